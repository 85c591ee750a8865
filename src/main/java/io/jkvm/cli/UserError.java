package io.jkvm.cli;

/** A problem with what the user asked for: reported as one line, exit status 2, no stack trace. */
public class UserError extends RuntimeException {
    public UserError(String message) {
        super(message);
    }
}
