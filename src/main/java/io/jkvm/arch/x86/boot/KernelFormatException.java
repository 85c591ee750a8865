package io.jkvm.arch.x86.boot;

/**
 * A kernel (or initrd) file is malformed or unsuitable. Every parser in this package treats file
 * contents as hostile: whatever the bytes are, this exception (never an index, arithmetic or
 * memory exception) is what comes out, with a message naming the offending field and offset.
 */
public final class KernelFormatException extends BootException {
    public KernelFormatException(String message) {
        super(message);
    }
}
