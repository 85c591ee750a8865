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

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * HTTP/1.1 over a Unix domain socket (Jetty's unix-domain connector), the transport of the
 * per-VM API and the daemon. Hardening for hostile local clients:
 * <ul>
 *   <li>a request must arrive whole within a deadline ({@link ConnectionGuard}: from the
 *       connection opening or the previous response; a byte now and then does not extend it), and
 *       idle connections are closed after {@code idleTimeout};
 *   <li>bodies are read without holding a worker thread (a client that stops mid-body costs a
 *       connection, not a thread), capped at {@link #MAX_BODY} (413 beyond), request headers at
 *       {@link #MAX_HEADER_BYTES} (431);
 *   <li>at most {@link #MAX_CONNECTIONS_PER_CLIENT} connections per client (503 beyond);
 *   <li>every error, Jetty's own included, is {@code {"fault_message": ...}} JSON ({@link JsonErrorHandler}).
 * </ul>
 * The socket is bound under a private name, made 0600 (owner only), then renamed into place.
 */
public final class UdsHttpServer implements AutoCloseable {
    /** Largest request body accepted. */
    public static final int MAX_BODY = 64 * 1024;
    /** Largest request line plus headers accepted. */
    public static final int MAX_HEADER_BYTES = 8 * 1024;
    /** Connections one client (peer user) may hold open at a time. */
    public static final int MAX_CONNECTIONS_PER_CLIENT = 64;

    private final Server server;
    private final Path socket;

    private UdsHttpServer(Server server, Path socket) {
        this.server = server;
        this.socket = socket;
    }

    /** As {@link #start(Path, HttpEndpoint, int, Duration, Duration)} with the request deadline equal to the idle timeout. */
    public static UdsHttpServer start(Path socket, HttpEndpoint endpoint, int maxThreads, Duration idleTimeout)
            throws IOException {
        return start(socket, endpoint, maxThreads, idleTimeout, idleTimeout);
    }

    /** Binds {@code socket} (replacing a stale socket file nobody listens on) and starts serving. */
    public static UdsHttpServer start(Path socket, HttpEndpoint endpoint, int maxThreads, Duration idleTimeout,
            Duration requestDeadline) throws IOException {
        prepare(socket);
        QueuedThreadPool pool = new QueuedThreadPool(maxThreads, Math.min(2, maxThreads));
        pool.setName("api-" + socket.getFileName());
        pool.setDaemon(true);
        Server server = new Server(pool);
        HttpConfiguration http = new HttpConfiguration();
        http.setRequestHeaderSize(MAX_HEADER_BYTES);
        http.setSendServerVersion(false);
        http.setSendDateHeader(false);
        UnixDomainServerConnector connector = new UnixDomainServerConnector(server, 1, 1, new HttpConnectionFactory(http));
        Path bindPath = privateBindPath(socket);
        connector.setUnixDomainPath(bindPath);
        connector.setIdleTimeout(idleTimeout.toMillis());
        ConnectionGuard guard = new ConnectionGuard(connector.getScheduler(), requestDeadline, MAX_CONNECTIONS_PER_CLIENT);
        connector.addBean(guard);
        server.addConnector(connector);
        server.setErrorHandler(new JsonErrorHandler(MAX_HEADER_BYTES));
        server.setHandler(new EndpointHandler(endpoint, guard));
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

    /**
     * Reads the capped body without blocking a thread (demand callbacks), within what is left of
     * the request deadline, calls the endpoint, writes the reply; the connection is then ready
     * for its next request (and its next deadline).
     */
    private static final class EndpointHandler extends Handler.Abstract {
        private final HttpEndpoint endpoint;
        private final ConnectionGuard guard;

        /** Blocking (the default): the endpoint may take long (InstanceStart, a snapshot), so Jetty calls it on its pool. */
        EndpointHandler(HttpEndpoint endpoint, ConnectionGuard guard) {
            this.endpoint = endpoint;
            this.guard = guard;
        }

        @Override
        public boolean handle(Request request, Response response, Callback callback) {
            ConnectionGuard.Tracked conn = guard.get(request.getConnectionMetaData().getConnection());
            if (conn == null) { // over the client's connection limit: refused when it opened
                reply(request, response, callback, null, HttpReply.json(503, Json.fault("too many connections from this client")),
                        true);
                return true;
            }
            long declared = request.getLength();
            if (declared > MAX_BODY) {
                conn.processing();
                reply(request, response, callback, conn, HttpReply.json(413, Json.fault("request body of " + declared
                        + " bytes is larger than the " + MAX_BODY + " bytes allowed")), true);
                return true;
            }
            BodyReader body = new BodyReader(request, response, callback, conn);
            conn.requestArrived(body::cut);
            body.read();
            return true;
        }

        /** One request's body, gathered chunk by chunk as it arrives; exactly one reply. */
        private final class BodyReader {
            private final Request request;
            private final Response response;
            private final Callback callback;
            private final ConnectionGuard.Tracked conn;
            private final AtomicBoolean answered = new AtomicBoolean();
            private final ByteArrayOutputStream body = new ByteArrayOutputStream();

            BodyReader(Request request, Response response, Callback callback, ConnectionGuard.Tracked conn) {
                this.request = request;
                this.response = response;
                this.callback = callback;
                this.conn = conn;
            }

            void read() {
                while (!answered.get()) {
                    Content.Chunk chunk = request.read();
                    if (chunk == null) {
                        request.demand(this::read);
                        return;
                    }
                    if (Content.Chunk.isFailure(chunk)) {
                        // The client went away (or Jetty gave up on it): nobody to answer.
                        if (answered.compareAndSet(false, true)) {
                            callback.failed(chunk.getFailure());
                        }
                        return;
                    }
                    ByteBuffer b = chunk.getByteBuffer();
                    int n = b.remaining();
                    if (body.size() + n > MAX_BODY) {
                        chunk.release();
                        finish(HttpReply.json(413, Json.fault("request body is larger than the " + MAX_BODY
                                + " bytes allowed")), true);
                        return;
                    }
                    byte[] bytes = new byte[n];
                    b.get(bytes);
                    body.write(bytes, 0, n);
                    boolean last = chunk.isLast();
                    chunk.release();
                    if (last) {
                        process();
                        return;
                    }
                }
            }

            /** The body is too slow ({@link ConnectionGuard}): 408 and close. */
            void cut(String why) {
                finish(HttpReply.json(408, Json.fault(why)), true);
            }

            private void process() {
                if (!answered.compareAndSet(false, true)) {
                    return;
                }
                conn.processing();
                HttpReply reply;
                try {
                    reply = endpoint.handle(request.getMethod(), request.getHttpURI().getPath(),
                            request.getHttpURI().getQuery(), body.toByteArray());
                } catch (RuntimeException e) {
                    reply = HttpReply.json(500, Json.fault("internal error: " + e));
                }
                reply(request, response, callback, conn, reply, false);
            }

            private void finish(HttpReply reply, boolean close) {
                if (answered.compareAndSet(false, true)) {
                    conn.processing(); // answered: the guard has nothing more to time
                    reply(request, response, callback, conn, reply, close);
                }
            }
        }

        /**
         * Writes {@code reply}; with {@code close} the connection ends after it (the rest of a
         * refused request is never read). Otherwise, once it is sent, the connection waits for its
         * next request under a fresh deadline.
         */
        private static void reply(Request request, Response response, Callback callback, ConnectionGuard.Tracked conn,
                HttpReply reply, boolean close) {
            response.setStatus(reply.status());
            if (reply.contentType() != null) {
                response.getHeaders().put(HttpHeader.CONTENT_TYPE, reply.contentType());
            }
            if (close) {
                response.getHeaders().put(HttpHeader.CONNECTION, "close");
            }
            Callback done = close || conn == null ? callback : Callback.from(() -> {
                conn.awaitingRequest();
                callback.succeeded();
            }, callback::failed);
            response.write(true, ByteBuffer.wrap(reply.body()), done);
        }
    }
}
