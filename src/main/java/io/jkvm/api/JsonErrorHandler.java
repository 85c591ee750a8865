package io.jkvm.api;

import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Jetty's own refusals, made before jkvm sees a request (a malformed request line, an ambiguous
 * or encoded path such as {@code /drives/..%2Fetc}, headers over the limit, an unknown HTTP
 * version), answered the way the API answers: {@code {"fault_message": ...}} JSON, in jkvm's
 * words, for every method. Jetty's HTML error pages never reach a client.
 */
final class JsonErrorHandler extends ErrorHandler {
    private final int maxHeaderBytes;

    JsonErrorHandler(int maxHeaderBytes) {
        this.maxHeaderBytes = maxHeaderBytes;
    }

    @Override
    public boolean errorPageForMethod(String method) {
        return true;
    }

    @Override
    protected void generateResponse(Request request, Response response, int code, String message, Throwable cause,
            Callback callback) {
        byte[] body = Json.fault(describe(code, message)).getBytes(StandardCharsets.UTF_8);
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
        response.write(true, ByteBuffer.wrap(body), callback);
    }

    /** Used by Jetty for errors found while parsing, before any request exists. */
    @Override
    public ByteBuffer badMessageError(int status, String reason, HttpFields.Mutable fields) {
        fields.put(HttpHeader.CONTENT_TYPE, "application/json");
        return ByteBuffer.wrap(Json.fault(describe(status, reason)).getBytes(StandardCharsets.UTF_8));
    }

    /** One line for the client: what was wrong with the request, in the API's terms. */
    String describe(int status, String jettyMessage) {
        String detail = jettyMessage == null || jettyMessage.isBlank() ? null : jettyMessage.trim();
        return switch (status) {
            case 400 -> "malformed HTTP request" + (detail == null ? "" : ": " + detail);
            case 408 -> "the request did not arrive in time";
            case 413 -> "request body is larger than the " + UdsHttpServer.MAX_BODY + " bytes allowed";
            case 414 -> "request path is too long";
            case 431 -> "request headers are larger than the " + maxHeaderBytes + " bytes allowed";
            case 501 -> "not implemented" + (detail == null ? "" : ": " + detail);
            case 505 -> "HTTP version not supported (use HTTP/1.1)";
            default -> status >= 500 ? "internal error" + (detail == null ? "" : ": " + detail)
                    : "request refused (" + status + ")" + (detail == null ? "" : ": " + detail);
        };
    }
}
