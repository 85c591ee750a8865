package io.jkvm.net;

import io.jkvm.kvm.Native;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

/** Scatter/gather I/O straight from/to native segments (guest memory) with readv/writev. */
public final class IoVec {
    private IoVec() {}

    /** Linux UIO_MAXIOV. */
    public static final int MAX = 1024;

    /** readv into {@code bufs}; returns bytes read or -errno. */
    public static long readv(int fd, List<MemorySegment> bufs) {
        try (Arena a = Arena.ofConfined()) {
            return Native.readv(fd, build(a, bufs), Math.min(bufs.size(), MAX));
        }
    }

    /** writev from {@code bufs}; returns bytes written or -errno. */
    public static long writev(int fd, List<MemorySegment> bufs) {
        try (Arena a = Arena.ofConfined()) {
            return Native.writev(fd, build(a, bufs), Math.min(bufs.size(), MAX));
        }
    }

    private static MemorySegment build(Arena a, List<MemorySegment> bufs) {
        int n = Math.min(bufs.size(), MAX);
        MemorySegment iov = a.allocate((long) Math.max(n, 1) * Native.IOVEC_SIZE, 8);
        for (int i = 0; i < n; i++) {
            MemorySegment s = bufs.get(i);
            if (!s.isNative()) {
                throw new IllegalArgumentException("iovec needs native memory");
            }
            iov.set(ValueLayout.JAVA_LONG, (long) i * Native.IOVEC_SIZE, s.address());
            iov.set(ValueLayout.JAVA_LONG, (long) i * Native.IOVEC_SIZE + 8, s.byteSize());
        }
        return iov;
    }
}
