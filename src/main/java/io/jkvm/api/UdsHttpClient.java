package io.jkvm.api;

import org.eclipse.jetty.client.BytesRequestContent;
import org.eclipse.jetty.client.ContentResponse;
import org.eclipse.jetty.client.HttpClient;
import org.eclipse.jetty.client.Request;
import org.eclipse.jetty.client.transport.HttpClientTransportOverHTTP;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.ClientConnector;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * HTTP/1.1 over a Unix domain socket with Jetty's client: how the daemon talks to each VMM's
 * API and the CLI to the daemon, one connection per request. Failures to connect or answer become
 * IOException.
 */
public final class UdsHttpClient implements AutoCloseable {
    /** Status and body of an answer. */
    public record Reply(int status, String body) {
        public boolean ok() {
            return status >= 200 && status < 300;
        }
    }

    private final HttpClient client;
    private final Path socket;

    /** A client whose idle connections close after 30 s (a request in progress is bounded by its own timeout). */
    public UdsHttpClient(Path socket) throws IOException {
        this(socket, Duration.ofSeconds(30));
    }

    /**
     * A client for {@code socket}. {@code idleTimeout} closes connections nobody uses; it never
     * cuts a request that is waiting for its answer, whose limit is the one {@link #send} is given
     * (a daemon's VM start can take minutes in the lab with no byte on the wire meanwhile).
     */
    public UdsHttpClient(Path socket, Duration idleTimeout) throws IOException {
        this.socket = socket;
        QueuedThreadPool pool = new QueuedThreadPool(4, 1);
        pool.setName("uds-client");
        pool.setDaemon(true);
        ClientConnector connector = ClientConnector.forUnixDomain(socket);
        connector.setExecutor(pool);
        connector.setIdleTimeout(idleTimeout);
        this.client = new HttpClient(new HttpClientTransportOverHTTP(connector));
        client.setIdleTimeout(idleTimeout.toMillis());
        client.setExecutor(pool);
        client.setUserAgentField(null);
        try {
            client.start();
        } catch (Exception e) {
            throw new IOException("cannot start an HTTP client for " + socket + ": " + e.getMessage(), e);
        }
    }

    public Path socket() {
        return socket;
    }

    /**
     * Sends one request and waits up to {@code timeout} for the whole answer. The connection's
     * idle timeout is raised to the same limit for this request, so a server that works in
     * silence for longer than the idle timeout is still waited for.
     */
    public Reply send(String method, String path, String json, Duration timeout) throws IOException {
        // One connection per request. A kept-alive connection races the server's idle timeout: the
        // server closes it as the next request goes out, and that request fails unanswered. A
        // busy host (a daemon starting several VMMs at once) is where the gap between two
        // requests grows past the VMM's 10 s, and a non-idempotent request cannot be resent.
        Request req = client.newRequest("http://localhost" + path).method(method)
                .headers(h -> h.put(HttpHeader.CONNECTION, "close"))
                .timeout(timeout.toMillis(), TimeUnit.MILLISECONDS)
                .idleTimeout(timeout.toMillis(), TimeUnit.MILLISECONDS);
        if (json != null) {
            req.body(new BytesRequestContent("application/json", json.getBytes(StandardCharsets.UTF_8)));
        }
        String what = method + " " + path;
        try {
            ContentResponse r = req.send();
            return new Reply(r.getStatus(), r.getContentAsString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for " + what, e);
        } catch (TimeoutException e) {
            throw new IOException(socket + ": no answer to " + what + " within " + timeout.toMillis()
                    + " ms (this client's limit for it; the server may still be working on it)", e);
        } catch (ExecutionException e) {
            Throwable c = e.getCause() == null ? e : e.getCause();
            if (c instanceof TimeoutException) {
                throw new IOException(socket + ": no answer to " + what + ": " + c.getMessage(), c);
            }
            throw new IOException(socket + ": " + what + ": " + c.getMessage(), c);
        }
    }

    public Reply get(String path, Duration timeout) throws IOException {
        return send("GET", path, null, timeout);
    }

    @Override
    public void close() {
        try {
            client.stop();
        } catch (Exception e) {
            // stopping anyway
        }
    }
}
