package io.jkvm.device.virtio;

import io.jkvm.kvm.Native;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A non-blocking Linux eventfd: the doorbell between KVM (ioeventfd/irqfd), vCPU threads and
 * device I/O threads. {@link #signal} never blocks; {@link #drain} consumes all signals.
 */
public final class EventFd implements AutoCloseable {
    private static final ThreadLocal<MemorySegment> BUF =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(8, 8));

    private final int fd;
    private volatile boolean closed;

    public EventFd() {
        fd = Native.eventfd(0, Native.EFD_CLOEXEC | Native.EFD_NONBLOCK);
    }

    public int fd() {
        return fd;
    }

    /** Adds one to the counter, waking pollers; a full counter (never in practice) is ignored. */
    public void signal() {
        if (closed) {
            return;
        }
        MemorySegment b = BUF.get();
        b.set(ValueLayout.JAVA_LONG, 0, 1L);
        Native.write(fd, b, 8);
    }

    /** Resets the counter; returns whether it was signalled. */
    public boolean drain() {
        if (closed) {
            return false;
        }
        return Native.read(fd, BUF.get(), 8) == 8;
    }

    @Override
    public void close() {
        if (!closed) {
            closed = true;
            Native.close(fd);
        }
    }
}
