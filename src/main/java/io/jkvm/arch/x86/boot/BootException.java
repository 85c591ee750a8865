package io.jkvm.arch.x86.boot;

/**
 * A boot-time problem the user can fix (kernel too big for RAM, initrd does not fit, command line
 * too long, unusable kernel file). The message is one self-contained sentence meant to be shown
 * as-is by the CLI; it never needs a stack trace to be understood.
 */
public class BootException extends RuntimeException {
    public BootException(String message) {
        super(message);
    }

    public BootException(String message, Throwable cause) {
        super(message, cause);
    }
}
