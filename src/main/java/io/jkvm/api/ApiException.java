package io.jkvm.api;

/**
 * A request the VMM refuses: carries the HTTP status (always 4xx) and a fault message that
 * names the field or the state that is wrong, sent as Firecracker's {@code {"fault_message": ...}}.
 */
public final class ApiException extends RuntimeException {
    public static final int BAD_REQUEST = 400;
    public static final int PAYLOAD_TOO_LARGE = 413;

    private final int status;

    public ApiException(int status, String message) {
        super(message);
        if (status < 400 || status > 499) {
            throw new IllegalArgumentException("client error status expected: " + status);
        }
        this.status = status;
    }

    public static ApiException badRequest(String message) {
        return new ApiException(BAD_REQUEST, message);
    }

    public int status() {
        return status;
    }
}
