package io.jkvm.memory;

import io.jkvm.kvm.Native;
import io.jkvm.kvm.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A userfaultfd (Documentation/admin-guide/mm/userfaultfd.rst; linux/userfaultfd.h): missing
 * pages of registered anonymous memory are reported here instead of being zero-filled, and the
 * reader fills them with {@link #copy} or {@link #zeroPage}, which wake the faulting threads.
 * Faults taken by the kernel on the VMM's behalf (KVM reading guest RAM) are reported too, so
 * the descriptor is made without UFFD_USER_MODE_ONLY.
 *
 * <p>Made through /dev/userfaultfd (USERFAULTFD_IOC_NEW, Linux 6.1), whose file mode decides who
 * may use it, not through the userfaultfd system call: the VMM's seccomp filter denies that call
 * and vm.unprivileged_userfaultfd is 0 on most hosts. Not thread-safe: one thread serves it.
 */
public final class UserFaultFd implements AutoCloseable {
    public static final String DEVICE = "/dev/userfaultfd";

    // ioctl numbers: _IO/_IOR/_IOWR(0xAA, nr, struct) from linux/userfaultfd.h.
    static final long USERFAULTFD_IOC_NEW = 0xAA00L;
    static final long UFFDIO_API = 0xC018AA3FL;       // struct uffdio_api, 24 bytes
    static final long UFFDIO_REGISTER = 0xC020AA00L;  // struct uffdio_register, 32 bytes
    static final long UFFDIO_UNREGISTER = 0x8010AA01L; // struct uffdio_range, 16 bytes
    static final long UFFDIO_WAKE = 0x8010AA02L;
    static final long UFFDIO_COPY = 0xC028AA03L;      // struct uffdio_copy, 40 bytes
    static final long UFFDIO_ZEROPAGE = 0xC020AA04L;  // struct uffdio_zeropage, 32 bytes
    static final long UFFD_API = 0xAA;
    static final long REGISTER_MODE_MISSING = 1;
    static final int EVENT_PAGEFAULT = 0x12;
    /** sizeof(struct uffd_msg). */
    public static final int MSG_BYTES = 32;
    static final int EEXIST = 17;

    private final int fd;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment arg = arena.allocate(48, 8);

    private UserFaultFd(int fd) {
        this.fd = fd;
    }

    /**
     * Opens a non-blocking userfaultfd and does the API handshake. Throws {@link NativeException}
     * naming the step (open, USERFAULTFD_IOC_NEW, UFFDIO_API) when the host does not allow it.
     */
    public static UserFaultFd open() {
        int dev = Native.open(DEVICE, Native.O_RDWR | Native.O_CLOEXEC);
        int fd;
        try {
            fd = Native.ioctlOrErrno(dev, USERFAULTFD_IOC_NEW, Native.O_CLOEXEC | Native.O_NONBLOCK);
        } finally {
            Native.close(dev);
        }
        if (fd < 0) {
            throw new NativeException("ioctl(" + DEVICE + ", USERFAULTFD_IOC_NEW)", -fd);
        }
        UserFaultFd u = new UserFaultFd(fd);
        try {
            u.arg.set(ValueLayout.JAVA_LONG, 0, UFFD_API);
            u.arg.set(ValueLayout.JAVA_LONG, 8, 0L); // no optional features: missing-page faults only
            u.check(Native.ioctlOrErrno(fd, UFFDIO_API, u.arg), "UFFDIO_API");
        } catch (RuntimeException e) {
            u.close();
            throw e;
        }
        return u;
    }

    public int fd() {
        return fd;
    }

    /** Reports missing-page faults in {@code range} (page-aligned private anonymous memory) here. */
    public void register(MemorySegment range) {
        arg.set(ValueLayout.JAVA_LONG, 0, range.address());
        arg.set(ValueLayout.JAVA_LONG, 8, range.byteSize());
        arg.set(ValueLayout.JAVA_LONG, 16, REGISTER_MODE_MISSING);
        arg.set(ValueLayout.JAVA_LONG, 24, 0L);
        check(Native.ioctlOrErrno(fd, UFFDIO_REGISTER, arg), "UFFDIO_REGISTER");
    }

    /** Stops reporting faults in {@code range}: missing pages are zero-filled by the kernel again. */
    public void unregister(MemorySegment range) {
        rangeArg(range.address(), range.byteSize());
        check(Native.ioctlOrErrno(fd, UFFDIO_UNREGISTER, arg), "UFFDIO_UNREGISTER");
    }

    /** Wakes threads waiting on pages of the range that are present now. */
    public void wake(long address, long length) {
        rangeArg(address, length);
        check(Native.ioctlOrErrno(fd, UFFDIO_WAKE, arg), "UFFDIO_WAKE");
    }

    /**
     * Copies {@code length} bytes from {@code source} (memory of this process outside any
     * registered range) into the missing pages at {@code address} and wakes their waiters.
     * Returns the bytes copied, or -EEXIST when the first page is already present (another
     * fill got there first); other errors throw.
     */
    public long copy(long address, MemorySegment source, long length) {
        long done = 0;
        while (done < length) {
            arg.set(ValueLayout.JAVA_LONG, 0, address + done);
            arg.set(ValueLayout.JAVA_LONG, 8, source.address() + done);
            arg.set(ValueLayout.JAVA_LONG, 16, length - done);
            arg.set(ValueLayout.JAVA_LONG, 24, 0L);
            arg.set(ValueLayout.JAVA_LONG, 32, 0L);
            int r = Native.ioctlOrErrno(fd, UFFDIO_COPY, arg);
            long copied = arg.get(ValueLayout.JAVA_LONG, 32);
            if (copied > 0) {
                done += copied;
                continue; // a partial copy (-EAGAIN) goes on from where it stopped
            }
            if (r == -EEXIST || copied == -EEXIST) {
                return done > 0 ? done : -EEXIST;
            }
            if (r < 0 && r != -Native.EAGAIN) {
                throw new NativeException("ioctl(userfaultfd, UFFDIO_COPY)", -r);
            }
        }
        return done;
    }

    /**
     * Maps zero pages over the missing pages of the range and wakes their waiters; returns
     * false, waking them instead, when the range is already present.
     */
    public boolean zeroPage(long address, long length) {
        rangeArg(address, length);
        arg.set(ValueLayout.JAVA_LONG, 16, 0L);
        arg.set(ValueLayout.JAVA_LONG, 24, 0L);
        int r = Native.ioctlOrErrno(fd, UFFDIO_ZEROPAGE, arg);
        if (r == -EEXIST) {
            wake(address, length);
            return false;
        }
        check(r, "UFFDIO_ZEROPAGE");
        return true;
    }

    /**
     * Reads pending messages into {@code msgs} (a multiple of {@link #MSG_BYTES}); returns how
     * many, 0 when none is pending.
     */
    public int read(MemorySegment msgs) {
        long r = Native.read(fd, msgs, msgs.byteSize() - msgs.byteSize() % MSG_BYTES);
        if (r == -Native.EAGAIN || r == -Native.EINTR) {
            return 0;
        }
        if (r < 0) {
            throw new NativeException("read(userfaultfd)", (int) -r);
        }
        return (int) (r / MSG_BYTES);
    }

    /** The faulting address of message {@code i} of {@code msgs}, or -1 when it is not a page fault. */
    public static long faultAddress(MemorySegment msgs, int i) {
        long base = (long) i * MSG_BYTES;
        if ((msgs.get(ValueLayout.JAVA_BYTE, base) & 0xff) != EVENT_PAGEFAULT) {
            return -1;
        }
        return msgs.get(ValueLayout.JAVA_LONG, base + 16); // uffd_msg.arg.pagefault.address
    }

    private void rangeArg(long address, long length) {
        arg.set(ValueLayout.JAVA_LONG, 0, address);
        arg.set(ValueLayout.JAVA_LONG, 8, length);
    }

    private static void check(int r, String what) {
        if (r < 0) {
            throw new NativeException("ioctl(userfaultfd, " + what + ")", -r);
        }
    }

    /** Closing unregisters every range: waiting threads are woken and their pages zero-filled. */
    @Override
    public void close() {
        Native.close(fd);
        arena.close();
    }
}
