package io.jkvm.api;

/** An HTTP response of the per-VM API: status and an optional JSON body, or a PNG image (GET /vm/screenshot). */
public record ApiResponse(int status, String json, byte[] png) {
    public static final ApiResponse NO_CONTENT = new ApiResponse(204, null);

    /** A PNG image a read answers with (rendered as {@code image/png}). */
    public record Image(byte[] png) {}

    public ApiResponse(int status, String json) {
        this(status, json, null);
    }

    public static ApiResponse ok(String json) {
        return new ApiResponse(200, json);
    }

    public static ApiResponse png(byte[] png) {
        return new ApiResponse(200, null, png);
    }

    public static ApiResponse fault(int status, String message) {
        return new ApiResponse(status, Json.fault(message));
    }
}
