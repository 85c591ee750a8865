package io.jkvm.mmds;

import com.fasterxml.jackson.databind.JsonNode;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * What the MMDS answers a guest's HTTP request, as Firecracker documents it: GET reads the store
 * (V2 only with a valid session token; V1 without, a token being optional), PUT
 * {@code /latest/api/token} issues a token (in both versions), anything else is 405. Output is
 * JSON with {@code Accept: application/json} (unless {@code imds_compat}), otherwise IMDS text:
 * an object lists its keys (a "/" after those holding objects), a string is its value, other
 * values are 501.
 */
final class MmdsResponder {
    static final String TOKEN_PATH = "/latest/api/token";
    private static final String[] TOKEN_HEADERS = {"x-metadata-token", "x-aws-ec2-metadata-token"};
    private static final String[] TTL_HEADERS = {"x-metadata-token-ttl-seconds", "x-aws-ec2-metadata-token-ttl-seconds"};

    private final MmdsStore store;

    MmdsResponder(MmdsStore store) {
        this.store = store;
    }

    /** The response to {@code r}, complete with status line and headers. */
    byte[] respond(HttpRequest r, boolean close) {
        return switch (r.method()) {
            case "GET" -> get(r, close);
            case "PUT" -> put(r, close);
            default -> response(405, "text/plain", "Not allowed HTTP method.", close, "Allow: GET, PUT");
        };
    }

    /** A malformed request's answer (the connection closes after it). */
    static byte[] badRequest(String message) {
        return response(400, "text/plain", message, true);
    }

    private byte[] get(HttpRequest r, boolean close) {
        if (store.version() == MmdsVersion.V2) {
            String token = first(r, TOKEN_HEADERS);
            if (token == null) {
                return response(401, "text/plain", "No MMDS token provided. Use `X-metadata-token` or"
                        + " `X-aws-ec2-metadata-token` header to specify the session token.", close);
            }
            if (!store.tokens().isValid(token)) {
                return response(401, "text/plain", "MMDS token not valid.", close);
            }
        }
        JsonNode n = store.lookup(r.path());
        if (n == null) {
            return response(404, "text/plain", "Resource not found: " + r.path() + ".", close);
        }
        String accept = r.header("accept");
        boolean json = !store.imdsCompat() && accept != null
                && accept.toLowerCase(Locale.ROOT).startsWith("application/json");
        if (json) {
            return response(200, "application/json", new String(MmdsStore.compact(n), StandardCharsets.UTF_8), close);
        }
        if (n.isObject()) {
            List<String> keys = new ArrayList<>();
            n.properties().forEach(e -> keys.add(e.getValue().isObject() ? e.getKey() + "/" : e.getKey()));
            return response(200, "text/plain", String.join("\n", keys), close);
        }
        if (n.isTextual()) {
            return response(200, "text/plain", n.textValue(), close);
        }
        return response(501, "text/plain", "Cannot retrieve value. The value has an unsupported type.", close);
    }

    private byte[] put(HttpRequest r, boolean close) {
        if (r.header("x-forwarded-for") != null) {
            return response(400, "text/plain", "Unsupported header name. Key: X-Forwarded-For.", close);
        }
        String path = r.path();
        while (path.contains("//")) {
            path = path.replace("//", "/");
        }
        if (!path.equals(TOKEN_PATH)) {
            return response(404, "text/plain", "Resource not found: " + r.path() + ".", close);
        }
        String name = null;
        String ttl = null;
        for (String h : TTL_HEADERS) {
            if (r.header(h) != null) {
                name = h;
                ttl = r.header(h);
                break;
            }
        }
        if (ttl == null) {
            return response(400, "text/plain", "Token time to live value not found. Use `X-metadata-token-ttl-seconds`"
                    + " or `X-aws-ec2-metadata-token-ttl-seconds` header to specify the token's lifetime.", close);
        }
        long seconds;
        try {
            seconds = ttl.length() > 10 ? -1 : Long.parseLong(ttl);
        } catch (NumberFormatException e) {
            seconds = -1;
        }
        if (!MmdsTokens.validTtl(seconds)) {
            return response(400, "text/plain", "Invalid time to live value provided for token: " + ttl
                    + ". Please provide a value between " + MmdsTokens.MIN_TTL_SECONDS + " and "
                    + MmdsTokens.MAX_TTL_SECONDS + ".", close);
        }
        return response(200, "text/plain", store.tokens().issue((int) seconds), close, name + ": " + seconds);
    }

    private static String first(HttpRequest r, String[] names) {
        for (String n : names) {
            if (r.header(n) != null) {
                return r.header(n);
            }
        }
        return null;
    }

    static byte[] response(int status, String contentType, String body, boolean close, String... extraHeaders) {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        StringBuilder h = new StringBuilder("HTTP/1.1 ").append(status).append(' ').append(reason(status)).append("\r\n");
        h.append("Server: jkvm MMDS\r\n");
        for (String x : extraHeaders) {
            h.append(x).append("\r\n");
        }
        if (close) {
            h.append("Connection: close\r\n");
        }
        h.append("Content-Type: ").append(contentType).append("\r\nContent-Length: ").append(b.length).append("\r\n\r\n");
        byte[] head = h.toString().getBytes(StandardCharsets.ISO_8859_1);
        byte[] out = new byte[head.length + b.length];
        System.arraycopy(head, 0, out, 0, head.length);
        System.arraycopy(b, 0, out, head.length, b.length);
        return out;
    }

    private static String reason(int status) {
        return switch (status) {
            case 200 -> "OK";
            case 400 -> "Bad Request";
            case 401 -> "Unauthorized";
            case 404 -> "Not Found";
            case 405 -> "Method Not Allowed";
            case 501 -> "Not Implemented";
            default -> "Error";
        };
    }
}
