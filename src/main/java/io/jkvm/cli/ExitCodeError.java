package io.jkvm.cli;

/** A failure with a specific exit status for scripts (see {@code jkvm vm --help}); one line, no stack trace. */
public class ExitCodeError extends RuntimeException {
    private final int exitCode;

    public ExitCodeError(int exitCode, String message) {
        super(message);
        this.exitCode = exitCode;
    }

    public int exitCode() {
        return exitCode;
    }
}
