package io.jkvm.mmds;

/** A store operation the store refuses, with the reason (the API maps it to a status). */
public final class MmdsException extends RuntimeException {
    /** Why. */
    public enum Reason {
        /** The store would exceed its size limit (the API answers 413, as Firecracker). */
        TOO_LARGE,
        /** PATCH before any PUT: there is nothing to patch. */
        NOT_INITIALIZED
    }

    private final Reason reason;

    MmdsException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
