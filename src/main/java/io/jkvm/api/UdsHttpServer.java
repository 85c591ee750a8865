package io.jkvm.api;

import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.unixdomain.server.UnixDomainServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

import java.io.IOException;
import java.io.InputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;

/**
 * HTTP/1.1 over a Unix domain socket (Jetty's unix-domain connector), the transport of the
 * per-VM API and the daemon. Hardening for hostile local clients: bodies are capped
 * ({@link #MAX_BODY}, 413 beyond), request headers at 8 KiB, idle connections (a client that
 * stops sending mid-request) are closed after {@code idleTimeout}, and the worker pool is bounded.
 * The socket is bound under a private name, made 0600 (owner only), then renamed into place.
 */
public final class UdsHttpServer implements AutoCloseable {
    /** Largest request body accepted. */
    public static final int MAX_BODY = 64 * 1024;

    private final Server server;
    private final Path socket;

    private UdsHttpServer(Server server, Path socket) {
        this.server = server;
        this.socket = socket;
    }

    /** Binds {@code socket} (replacing a stale socket file nobody listens on) and starts serving. */
    public static UdsHttpServer start(Path socket, HttpEndpoint endpoint, int maxThreads, Duration idleTimeout)
            throws IOException {
        prepare(socket);
        QueuedThreadPool pool = new QueuedThreadPool(maxThreads, Math.min(2, maxThreads));
        pool.setName("api-" + socket.getFileName());
        pool.setDaemon(true);
        Server server = new Server(pool);
        HttpConfiguration http = new HttpConfiguration();
        http.setRequestHeaderSize(8 * 1024);
        http.setSendServerVersion(false);
        http.setSendDateHeader(false);
        UnixDomainServerConnector connector = new UnixDomainServerConnector(server, 1, 1, new HttpConnectionFactory(http));
        Path bindPath = privateBindPath(socket);
        connector.setUnixDomainPath(bindPath);
        connector.setIdleTimeout(idleTimeout.toMillis());
        server.addConnector(connector);
        server.setHandler(new EndpointHandler(endpoint));
        server.setStopTimeout(1000);
        try {
            server.start();
        } catch (Exception e) {
            try {
                server.stop();
            } catch (Exception ignored) {
                // already failing
            }
            throw new IOException("cannot listen on " + socket + ": " + e.getMessage(), e);
        }
        publish(bindPath, socket);
        try {
            SocketFileSystems.requireReachable(socket);
        } catch (IOException e) {
            new UdsHttpServer(server, socket).close();
            throw e;
        }
        return new UdsHttpServer(server, socket);
    }

    public Path socket() {
        return socket;
    }

    /** Refuses a socket someone is serving; removes a stale one left by a killed process. */
    static void prepare(Path socket) throws IOException {
        if (privateBindPath(socket).toString().getBytes().length > 107) {
            throw new IOException(socket + ": unix socket paths are limited to 107 bytes");
        }
        Path parent = socket.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) {
            throw new IOException(socket + ": directory " + parent + " does not exist");
        }
        SocketFileSystems.requireSocketCapable(socket);
        Files.deleteIfExists(privateBindPath(socket));
        if (Files.exists(socket, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            if (listening(socket)) {
                throw new IOException(socket + ": already in use by a running process");
            }
            Files.delete(socket);
        }
    }

    /**
     * Where to bind before the socket is published: a sibling name no client looks for. Binding
     * creates the file with the process umask; only after it is made 0600 is it renamed to the
     * public name, so there is no moment when anyone else could connect.
     */
    static Path privateBindPath(Path socket) {
        return socket.resolveSibling("." + socket.getFileName() + "." + ProcessHandle.current().pid() + ".bind");
    }

    /** Makes the freshly bound socket owner-only, then gives it its public name (rename is atomic). */
    static void publish(Path bound, Path socket) throws IOException {
        Files.setPosixFilePermissions(bound, PosixFilePermissions.fromString("rw-------"));
        Files.move(bound, socket, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }

    /** True if something accepts connections on {@code socket}. */
    public static boolean listening(Path socket) {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            return true;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    @Override
    public void close() {
        try {
            server.stop();
        } catch (Exception e) {
            // stopping anyway
        }
        try {
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            // nothing more to do
        }
    }

    /** Reads the capped body, calls the endpoint, writes the reply. */
    private static final class EndpointHandler extends Handler.Abstract {
        private final HttpEndpoint endpoint;

        EndpointHandler(HttpEndpoint endpoint) {
            this.endpoint = endpoint;
        }

        @Override
        public boolean handle(Request request, Response response, Callback callback) {
            HttpReply reply;
            long declared = request.getLength();
            if (declared > MAX_BODY) {
                reply = HttpReply.json(413, Json.fault("request body of " + declared + " bytes is larger than the "
                        + MAX_BODY + " bytes allowed"));
            } else {
                byte[] body;
                try (InputStream in = Content.Source.asInputStream(request)) {
                    body = in.readNBytes(MAX_BODY + 1);
                } catch (IOException e) {
                    // The client went away or stalled past the idle timeout: nobody to answer.
                    callback.failed(e);
                    return true;
                }
                if (body.length > MAX_BODY) {
                    reply = HttpReply.json(413, Json.fault("request body is larger than the " + MAX_BODY + " bytes allowed"));
                } else {
                    String path = request.getHttpURI().getPath();
                    String query = request.getHttpURI().getQuery();
                    try {
                        reply = endpoint.handle(request.getMethod(), path, query, body);
                    } catch (RuntimeException e) {
                        reply = HttpReply.json(500, Json.fault("internal error: " + e));
                    }
                }
            }
            response.setStatus(reply.status());
            if (reply.contentType() != null) {
                response.getHeaders().put(HttpHeader.CONTENT_TYPE, reply.contentType());
            }
            if (reply.status() == 413) {
                response.getHeaders().put(HttpHeader.CONNECTION, "close");
            }
            response.write(true, ByteBuffer.wrap(reply.body()), callback);
            return true;
        }
    }
}
