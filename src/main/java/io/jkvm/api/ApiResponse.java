package io.jkvm.api;

/** An HTTP response of the per-VM API: status and an optional JSON body. */
public record ApiResponse(int status, String json) {
    public static final ApiResponse NO_CONTENT = new ApiResponse(204, null);

    public static ApiResponse ok(String json) {
        return new ApiResponse(200, json);
    }

    public static ApiResponse fault(int status, String message) {
        return new ApiResponse(status, Json.fault(message));
    }
}
