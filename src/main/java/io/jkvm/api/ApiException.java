package io.jkvm.api;

/**
 * A request the VMM refuses, typed: its {@link Kind} (which decides the HTTP status), the field
 * at fault when there is one, and a message that names the field or the state that is wrong. The
 * router renders it once, as Firecracker's {@code {"fault_message": ...}}.
 */
public final class ApiException extends RuntimeException {
    /** What went wrong, and so which status answers it. */
    public enum Kind {
        /** A malformed or invalid request: a field, a method on a known path (Firecracker answers 400 for both). */
        BAD_REQUEST(400),
        /** No such endpoint. */
        NOT_FOUND(404),
        /** A valid request the VM cannot take in its current state (before/after boot, stopped, in progress). */
        NOT_ALLOWED(400),
        /** A body that would make something exceed its size limit (the metadata store: Firecracker's 413). */
        PAYLOAD_TOO_LARGE(413),
        /** A jkvm bug; the VMM keeps serving. */
        INTERNAL(500);

        public final int status;

        Kind(int status) {
            this.status = status;
        }
    }

    private final Kind kind;
    private final String field;

    public ApiException(Kind kind, String field, String message) {
        super(message);
        this.kind = java.util.Objects.requireNonNull(kind);
        this.field = field;
    }

    public static ApiException badRequest(String message) {
        return new ApiException(Kind.BAD_REQUEST, null, message);
    }

    /** A refusal naming {@code field} (the message says how it is wrong). */
    public static ApiException badField(String field, String message) {
        return new ApiException(Kind.BAD_REQUEST, field, message);
    }

    public static ApiException notFound(String message) {
        return new ApiException(Kind.NOT_FOUND, null, message);
    }

    public static ApiException tooLarge(String message) {
        return new ApiException(Kind.PAYLOAD_TOO_LARGE, null, message);
    }

    public static ApiException notAllowed(String message) {
        return new ApiException(Kind.NOT_ALLOWED, null, message);
    }

    public Kind kind() {
        return kind;
    }

    /** The request field at fault, or null when the state or the request as a whole is. */
    public String field() {
        return field;
    }

    public int status() {
        return kind.status;
    }
}
