package io.jkvm.daemon.web;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.nio.ByteBuffer;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** An HTTP and WebSocket client for the web console tests, acting as a browser would (Origin, cookie). */
final class WebClient {
    final String base;
    final String origin;
    private final HttpClient http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).build();

    WebClient(int port) {
        this.base = "http://127.0.0.1:" + port;
        this.origin = base;
    }

    HttpResponse<String> get(String path, String cookie) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path)).GET();
        if (cookie != null) {
            b.header("Cookie", WebConsole.COOKIE + "=" + cookie);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> post(String path, String cookie, String origin, String form) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path))
                .POST(HttpRequest.BodyPublishers.ofString(form == null ? "" : form))
                .header("Content-Type", "application/x-www-form-urlencoded");
        if (cookie != null) {
            b.header("Cookie", WebConsole.COOKIE + "=" + cookie);
        }
        if (origin != null) {
            b.header("Origin", origin);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** Logs in with {@code token}; returns the session cookie's value, or null when refused. */
    String login(String token) throws IOException, InterruptedException {
        HttpResponse<String> r = post("/login", null, origin, "token=" + java.net.URLEncoder.encode(token, java.nio.charset.StandardCharsets.UTF_8));
        return r.headers().firstValue("Set-Cookie")
                .filter(c -> c.startsWith(WebConsole.COOKIE + "="))
                .map(c -> c.substring(WebConsole.COOKIE.length() + 1, c.indexOf(';')))
                .orElse(null);
    }

    /** What one WebSocket received: binary data in order, and its close. */
    static final class Received implements WebSocket.Listener {
        final BlockingQueue<byte[]> data = new LinkedBlockingQueue<>();
        final CompletableFuture<Integer> closed = new CompletableFuture<>();
        private final boolean autoRequest;

        Received(boolean autoRequest) {
            this.autoRequest = autoRequest;
        }

        @Override
        public void onOpen(WebSocket ws) {
            if (autoRequest) {
                ws.request(Long.MAX_VALUE);
            }
        }

        @Override
        public CompletionStage<?> onBinary(WebSocket ws, ByteBuffer d, boolean last) {
            byte[] b = new byte[d.remaining()];
            d.get(b);
            data.add(b);
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket ws, int status, String reason) {
            closed.complete(status);
            return null;
        }

        @Override
        public void onError(WebSocket ws, Throwable error) {
            closed.complete(-1);
        }

        /** Reads exactly {@code n} bytes of binary data. */
        byte[] read(int n) throws InterruptedException {
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            while (out.size() < n) {
                byte[] b = data.poll(30, TimeUnit.SECONDS);
                if (b == null) {
                    throw new AssertionError("timed out after " + out.size() + " of " + n + " bytes");
                }
                out.writeBytes(b);
            }
            return out.toByteArray();
        }
    }

    /** Opens a WebSocket; returns its handshake's refusal status instead when refused. */
    record Opened(WebSocket ws, int refusedStatus) {
        /** The socket, which must have opened. */
        @Override
        public WebSocket ws() {
            if (ws == null) {
                throw new AssertionError("the WebSocket was refused with HTTP " + refusedStatus);
            }
            return ws;
        }
    }

    Opened ws(String path, String cookie, String origin, WebSocket.Listener listener, String... subprotocols)
            throws InterruptedException {
        WebSocket.Builder b = http.newWebSocketBuilder();
        if (cookie != null) {
            b.header("Cookie", WebConsole.COOKIE + "=" + cookie);
        }
        if (origin != null) {
            b.header("Origin", origin);
        }
        if (subprotocols.length > 0) {
            b.subprotocols(subprotocols[0], java.util.Arrays.copyOfRange(subprotocols, 1, subprotocols.length));
        }
        try {
            return new Opened(b.buildAsync(URI.create(base.replace("http:", "ws:") + path), listener).join(), 0);
        } catch (CompletionException e) {
            if (e.getCause() instanceof WebSocketHandshakeException h) {
                return new Opened(null, h.getResponse().statusCode());
            }
            throw e;
        }
    }
}
