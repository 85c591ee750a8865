package io.jkvm.kvm;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * An InputStream over a raw file descriptor using read(2) only. The JDK's System.in probes
 * {@code available()}, which falls back to lseek(2) on character devices that lack FIONREAD
 * (virtio-serial ports, some ttys) and fails with "Illegal seek"; a console must read any fd.
 */
public final class FdInputStream extends InputStream {
    private final int fd;
    private final MemorySegment buf;

    public FdInputStream(int fd, int bufferSize) {
        this.fd = fd;
        this.buf = Arena.ofAuto().allocate(bufferSize);
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public int read(byte[] b, int off, int len) throws IOException {
        if (len == 0) {
            return 0;
        }
        int want = (int) Math.min(len, buf.byteSize());
        while (true) {
            long n = Native.read(fd, buf, want);
            if (n > 0) {
                MemorySegment.copy(buf, ValueLayout.JAVA_BYTE, 0, b, off, (int) n);
                return (int) n;
            }
            if (n == 0) {
                return -1;
            }
            if (n == -Native.EINTR) {
                continue;
            }
            if (n == -Native.EAGAIN) {
                waitReadable();
                continue;
            }
            throw new IOException("read(fd " + fd + "): " + Native.strerror((int) -n));
        }
    }

    /** A non-blocking fd with nothing to read: wait in poll(2) rather than spin. */
    private void waitReadable() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment pfd = a.allocate(8, 4);
            pfd.set(ValueLayout.JAVA_INT, 0, fd);
            pfd.set(ValueLayout.JAVA_SHORT, 4, Native.POLLIN);
            Native.poll(pfd, 1, -1);
        }
    }
}
