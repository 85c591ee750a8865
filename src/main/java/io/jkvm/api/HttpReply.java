package io.jkvm.api;

import java.nio.charset.StandardCharsets;

/** A response for {@link UdsHttpServer}: status, content type and body (empty for 204). */
public record HttpReply(int status, String contentType, byte[] body) {
    public static HttpReply json(int status, String json) {
        return json == null ? new HttpReply(status, null, new byte[0])
                : new HttpReply(status, "application/json", json.getBytes(StandardCharsets.UTF_8));
    }

    public static HttpReply text(int status, String text) {
        return new HttpReply(status, "text/plain; charset=utf-8", text.getBytes(StandardCharsets.UTF_8));
    }

    public static HttpReply of(ApiResponse r) {
        if (r.png() != null) {
            return new HttpReply(r.status(), "image/png", r.png());
        }
        return json(r.status(), r.json());
    }
}
