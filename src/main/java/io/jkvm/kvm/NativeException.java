package io.jkvm.kvm;

/** A failed system call, naming the call and the errno (e.g. "open(/dev/kvm): Permission denied (errno 13)"). */
public class NativeException extends RuntimeException {
    private final int errno;

    public NativeException(String call, int errno) {
        super(call + ": " + Native.strerror(errno) + " (errno " + errno + ")");
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }
}
