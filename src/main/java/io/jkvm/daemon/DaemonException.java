package io.jkvm.daemon;

/**
 * A refused daemon request, with the HTTP status that tells a script what kind of refusal it is:
 * 400 bad request or definition, 404 no such VM, 409 wrong state, 500 the VMM failed.
 */
public final class DaemonException extends RuntimeException {
    private final int status;

    public DaemonException(int status, String message) {
        super(message);
        this.status = status;
    }

    public static DaemonException badRequest(String m) {
        return new DaemonException(400, m);
    }

    public static DaemonException notFound(String name) {
        return new DaemonException(404, "no VM named '" + name + "'");
    }

    public static DaemonException conflict(String m) {
        return new DaemonException(409, m);
    }

    public static DaemonException failed(String m) {
        return new DaemonException(500, m);
    }

    public int status() {
        return status;
    }
}
