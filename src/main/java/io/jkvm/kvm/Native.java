package io.jkvm.kvm;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The libc calls jkvm needs, bound with the Foreign Function &amp; Memory API (no JNI).
 *
 * <p>Every call captures {@code errno} at the call site (a later JVM-internal call could
 * otherwise overwrite it) and failures become {@link NativeException}s naming the call.
 */
public final class Native {
    private Native() {}

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO =
            CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    // open(2) flags and friends (asm-generic/fcntl.h, x86-64 values).
    public static final int O_RDONLY = 0;
    public static final int O_WRONLY = 1;
    public static final int O_RDWR = 2;
    public static final int O_CREAT = 0x40;
    public static final int O_APPEND = 0x400;
    public static final int O_NONBLOCK = 0x800;
    public static final int O_CLOEXEC = 0x80000;
    // mmap(2)
    public static final int PROT_NONE = 0;
    public static final int PROT_READ = 1;
    public static final int PROT_WRITE = 2;
    public static final int MAP_SHARED = 0x01;
    public static final int MAP_PRIVATE = 0x02;
    public static final int MAP_ANONYMOUS = 0x20;
    public static final int MAP_NORESERVE = 0x4000;
    public static final int MAP_HUGETLB = 0x40000;
    public static final int MAP_FIXED = 0x10;
    public static final int MFD_CLOEXEC = 1;
    public static final int MADV_DONTNEED = 4;
    /** Frees the range and its backing store (shmem, shared anonymous memory); only on shared writable mappings. */
    public static final int MADV_REMOVE = 9;
    public static final int MADV_MERGEABLE = 12;
    public static final int MADV_DONTDUMP = 16;
    public static final int MADV_HUGEPAGE = 14;
    // eventfd(2)
    public static final int EFD_CLOEXEC = 0x80000;
    public static final int EFD_NONBLOCK = 0x800;
    // poll(2)
    public static final short POLLIN = 0x1;
    // signals
    public static final int SIG_BLOCK = 0;
    public static final int SIG_UNBLOCK = 1;
    public static final int SIG_SETMASK = 2;
    /** glibc's sigset_t is 1024 bits; the kernel's (and KVM_SET_SIGNAL_MASK's) is 64. */
    public static final int SIGSET_BYTES = 128;
    public static final int KERNEL_SIGSET_BYTES = 8;

    // fallocate(2) modes (linux/falloc.h)
    public static final int FALLOC_FL_KEEP_SIZE = 0x01;
    public static final int FALLOC_FL_PUNCH_HOLE = 0x02;
    public static final int FALLOC_FL_ZERO_RANGE = 0x10;
    // fcntl(2) open-file-description locks (asm-generic/fcntl.h)
    public static final int F_OFD_GETLK = 36;
    public static final int F_OFD_SETLK = 37;
    public static final short F_RDLCK = 0;
    public static final short F_WRLCK = 1;
    public static final short F_UNLCK = 2;
    public static final int SEEK_END = 2;
    // socketpair(2)
    public static final int AF_UNIX = 1;
    public static final int SOCK_SEQPACKET = 5;
    public static final int SOCK_NONBLOCK = 0x800;
    public static final int SOCK_CLOEXEC = 0x80000;
    public static final short POLLOUT = 0x4;
    public static final short POLLERR = 0x8;
    public static final short POLLHUP = 0x10;
    public static final short POLLNVAL = 0x20;
    public static final int EIO = 5;
    public static final int EBADF = 9;
    public static final int EACCES = 13;
    public static final int EINVAL = 22;
    public static final int ENOSPC = 28;
    public static final int EOPNOTSUPP = 95;
    /** Size of struct iovec (x86-64): void *iov_base; size_t iov_len. */
    public static final int IOVEC_SIZE = 16;
    public static final int EINTR = 4;
    public static final int EAGAIN = 11;

    private static MethodHandle fn(String name, FunctionDescriptor fd, Linker.Option... opts) {
        MemorySegment sym = LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc lacks " + name));
        return LINKER.downcallHandle(sym, fd, opts);
    }

    /** A libc function whose errno is captured (package-private: the other binding files of this package use it). */
    static MethodHandle errnoFn(String name, FunctionDescriptor fd) {
        return fn(name, fd, CAPTURE_ERRNO);
    }

    /** As {@link #errnoFn(String, FunctionDescriptor)}, for a variadic function: arguments from {@code firstVariadic} on. */
    static MethodHandle errnoFn(String name, FunctionDescriptor fd, int firstVariadic) {
        return fn(name, fd, CAPTURE_ERRNO, Linker.Option.firstVariadicArg(firstVariadic));
    }

    private static final MethodHandle OPEN = LINKER.downcallHandle(LIBC.find("open").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT),
            CAPTURE_ERRNO, Linker.Option.firstVariadicArg(2));
    private static final MethodHandle CLOSE = errnoFn("close", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    // ioctl(int fd, unsigned long request, ...): the third argument is variadic.
    private static final MethodHandle IOCTL_LONG = LINKER.downcallHandle(LIBC.find("ioctl").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG),
            CAPTURE_ERRNO, Linker.Option.firstVariadicArg(2));
    private static final MethodHandle IOCTL_PTR = LINKER.downcallHandle(LIBC.find("ioctl").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS),
            CAPTURE_ERRNO, Linker.Option.firstVariadicArg(2));
    private static final MethodHandle MMAP = errnoFn("mmap",
            FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG));
    private static final MethodHandle MUNMAP = errnoFn("munmap", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle MADVISE = errnoFn("madvise",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle EVENTFD = errnoFn("eventfd", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle READ = errnoFn("read", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle WRITE = errnoFn("write", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG));
    private static final MethodHandle POLL = errnoFn("poll", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, JAVA_INT));
    private static final MethodHandle GETTID = fn("gettid", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle GETPID = fn("getpid", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle TGKILL = errnoFn("tgkill", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle PTHREAD_SIGMASK = fn("pthread_sigmask",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle SIGTIMEDWAIT = errnoFn("sigtimedwait",
            FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, ADDRESS));
    private static final MethodHandle SIGACTION = errnoFn("sigaction",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle TCGETATTR = fn("tcgetattr", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle TCSETATTR = fn("tcsetattr",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle CFMAKERAW = fn("cfmakeraw", FunctionDescriptor.ofVoid(ADDRESS));
    private static final MethodHandle STRERROR = fn("strerror", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    private static final MethodHandle ISATTY = fn("isatty", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle SYSCONF = fn("sysconf", FunctionDescriptor.of(JAVA_LONG, JAVA_INT));
    private static final MethodHandle GETUID = fn("geteuid", FunctionDescriptor.of(JAVA_INT));
    private static final MethodHandle PREAD = errnoFn("pread",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle PWRITE = errnoFn("pwrite",
            FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle READV = errnoFn("readv", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle WRITEV = errnoFn("writev", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle FSYNC = errnoFn("fsync", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle FDATASYNC = errnoFn("fdatasync", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle FALLOCATE = errnoFn("fallocate",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_LONG, JAVA_LONG));
    private static final MethodHandle LSEEK = errnoFn("lseek", FunctionDescriptor.of(JAVA_LONG, JAVA_INT, JAVA_LONG, JAVA_INT));
    // fcntl(int fd, int cmd, ...): the third argument is variadic.
    private static final MethodHandle FCNTL_PTR = LINKER.downcallHandle(LIBC.find("fcntl").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS),
            CAPTURE_ERRNO, Linker.Option.firstVariadicArg(2));
    private static final MethodHandle MEMFD_CREATE = errnoFn("memfd_create", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    private static final MethodHandle SOCKETPAIR = errnoFn("socketpair",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));

    /** Per-thread errno capture buffer: calls happen on many threads (vCPUs, I/O workers). */
    static final ThreadLocal<MemorySegment> CAPTURE_BUF =
            ThreadLocal.withInitial(() -> Arena.global().allocate(CAPTURE));

    static int errno(MemorySegment cap) {
        return (int) ERRNO.get(cap, 0L);
    }

    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }

    /** The text of an errno value, e.g. "Permission denied". */
    public static String strerror(int errno) {
        try {
            MemorySegment p = (MemorySegment) STRERROR.invokeExact(errno);
            return p.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }

    public static int open(String path, int flags) {
        return open(path, flags, 0);
    }

    /** open(2) with the permission bits a created file gets ({@code mode}, before the umask). */
    public static int open(String path, int flags, int mode) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cap = CAPTURE_BUF.get();
            int fd = (int) OPEN.invokeExact(cap, a.allocateFrom(path), flags, mode);
            if (fd < 0) {
                throw new NativeException("open(" + path + ")", errno(cap));
            }
            return fd;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static void close(int fd) {
        try {
            int r = (int) CLOSE.invokeExact(CAPTURE_BUF.get(), fd);
            // close(2) errors leave the descriptor closed on Linux; nothing useful to do.
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** ioctl with an integer argument; returns the (non-negative) result or throws naming {@code name}. */
    public static int ioctl(int fd, long request, long arg, String name) {
        MemorySegment cap = CAPTURE_BUF.get();
        int r;
        try {
            r = (int) IOCTL_LONG.invokeExact(cap, fd, request, arg);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (r < 0) {
            throw new KvmException(name, errno(cap));
        }
        return r;
    }

    /** ioctl with a pointer argument; returns the result or throws naming {@code name}. */
    public static int ioctl(int fd, long request, MemorySegment arg, String name) {
        MemorySegment cap = CAPTURE_BUF.get();
        int r;
        try {
            r = (int) IOCTL_PTR.invokeExact(cap, fd, request, arg);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (r < 0) {
            throw new KvmException(name, errno(cap));
        }
        return r;
    }

    /**
     * KVM_RUN-style ioctl that reports EINTR/EAGAIN as a negative errno instead of throwing:
     * those are the normal way a kicked vCPU comes back to userspace.
     */
    public static int ioctlOrErrno(int fd, long request, long arg) {
        MemorySegment cap = CAPTURE_BUF.get();
        int r;
        try {
            r = (int) IOCTL_LONG.invokeExact(cap, fd, request, arg);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return r < 0 ? -errno(cap) : r;
    }

    public static MemorySegment mmap(long addr, long length, int prot, int flags, int fd, long offset) {
        MemorySegment cap = CAPTURE_BUF.get();
        MemorySegment p;
        try {
            p = (MemorySegment) MMAP.invokeExact(cap, MemorySegment.ofAddress(addr), length, prot, flags, fd, offset);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (p.address() == -1L) {
            throw new NativeException("mmap(" + length + " bytes)", errno(cap));
        }
        return p.reinterpret(length);
    }

    public static void munmap(MemorySegment seg) {
        try {
            int r = (int) MUNMAP.invokeExact(CAPTURE_BUF.get(), seg, seg.byteSize());
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** madvise(2); returns false with no exception when the kernel refuses (advice is optional). */
    public static boolean madvise(MemorySegment seg, int advice) {
        try {
            return (int) MADVISE.invokeExact(CAPTURE_BUF.get(), seg, seg.byteSize(), advice) == 0;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int eventfd(int initval, int flags) {
        MemorySegment cap = CAPTURE_BUF.get();
        int fd;
        try {
            fd = (int) EVENTFD.invokeExact(cap, initval, flags);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (fd < 0) {
            throw new NativeException("eventfd", errno(cap));
        }
        return fd;
    }

    /** read(2); returns bytes read, or -errno. */
    public static long read(int fd, MemorySegment buf, long len) {
        MemorySegment cap = CAPTURE_BUF.get();
        long r;
        try {
            r = (long) READ.invokeExact(cap, fd, buf, len);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return r < 0 ? -errno(cap) : r;
    }

    /** write(2); returns bytes written, or -errno. */
    public static long write(int fd, MemorySegment buf, long len) {
        MemorySegment cap = CAPTURE_BUF.get();
        long r;
        try {
            r = (long) WRITE.invokeExact(cap, fd, buf, len);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return r < 0 ? -errno(cap) : r;
    }

    /** poll(2) on {@code pollfds} (an array of struct pollfd); returns ready count, 0, or -errno. */
    public static int poll(MemorySegment pollfds, int nfds, int timeoutMs) {
        MemorySegment cap = CAPTURE_BUF.get();
        int r;
        try {
            r = (int) POLL.invokeExact(cap, pollfds, (long) nfds, timeoutMs);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return r < 0 ? -errno(cap) : r;
    }

    public static int gettid() {
        try {
            return (int) GETTID.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int getpid() {
        try {
            return (int) GETPID.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static int geteuid() {
        try {
            return (int) GETUID.invokeExact();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    public static boolean isatty(int fd) {
        try {
            return (int) ISATTY.invokeExact(fd) == 1;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** struct termios is 60 bytes in glibc on x86-64; a little slack costs nothing. */
    public static final int TERMIOS_BYTES = 64;

    /** tcgetattr(3): the terminal settings of {@code fd}, or null if it is not a terminal. */
    public static byte[] tcgetattr(int fd) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment t = a.allocate(TERMIOS_BYTES, 8);
            if ((int) TCGETATTR.invokeExact(fd, t) != 0) {
                return null;
            }
            return t.toArray(ValueLayout.JAVA_BYTE);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** tcsetattr(3) with TCSANOW; returns false if it failed. */
    public static boolean tcsetattr(int fd, byte[] termios) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment t = a.allocate(TERMIOS_BYTES, 8);
            MemorySegment.copy(termios, 0, t, ValueLayout.JAVA_BYTE, 0, termios.length);
            return (int) TCSETATTR.invokeExact(fd, 0, t) == 0;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** cfmakeraw(3) applied to a copy of {@code termios}. */
    public static byte[] cfmakeraw(byte[] termios) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment t = a.allocate(TERMIOS_BYTES, 8);
            MemorySegment.copy(termios, 0, t, ValueLayout.JAVA_BYTE, 0, termios.length);
            CFMAKERAW.invokeExact(t);
            return t.toArray(ValueLayout.JAVA_BYTE);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** sysconf(_SC_PAGESIZE) etc. */
    public static long sysconf(int name) {
        try {
            return (long) SYSCONF.invokeExact(name);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** Sends {@code sig} to one thread of this process; returns false if the thread is gone. */
    public static boolean tgkill(int tid, int sig) {
        MemorySegment cap = CAPTURE_BUF.get();
        try {
            return (int) TGKILL.invokeExact(cap, getpid(), tid, sig) == 0;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** struct sigaction (x86-64 glibc): handler, sa_mask (sigset_t), sa_flags, sa_restorer. */
    private static final int SIGACTION_SIZE = 8 + SIGSET_BYTES + 8 + 8;

    /**
     * Installs a do-nothing native handler for {@code sig}. A signal whose action is the default
     * "terminate" kills the whole process the moment it is sent to a thread that has it unblocked,
     * which is exactly the state of a vCPU thread inside KVM_RUN; with a handler installed it only
     * interrupts KVM_RUN (api.rst, KVM_SET_SIGNAL_MASK). The handler must be native code that is
     * safe in any thread state (a Java upcall is not, e.g. while the JVM tears a thread down), so
     * it is libc's getpid: async-signal-safe, it ignores its argument and has no side effects.
     */
    public static synchronized void installNoopHandler(int sig) {
        MemorySegment act = Arena.global().allocate(SIGACTION_SIZE, 8);
        act.set(ADDRESS, 0, LIBC.find("getpid").orElseThrow());
        MemorySegment cap = CAPTURE_BUF.get();
        int r;
        try {
            r = (int) SIGACTION.invokeExact(cap, sig, act, MemorySegment.NULL);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (r != 0) {
            throw new NativeException("sigaction(" + sig + ")", errno(cap));
        }
    }

    /** A sigset_t containing just {@code sig}. */
    public static MemorySegment sigset(Arena arena, int sig) {
        MemorySegment set = arena.allocate(SIGSET_BYTES, 8);
        set.set(ValueLayout.JAVA_LONG, 0, 1L << (sig - 1));
        return set;
    }

    /** pthread_sigmask(2) for the calling thread; {@code old} may be NULL. */
    public static void pthreadSigmask(int how, MemorySegment set, MemorySegment old) {
        int r;
        try {
            r = (int) PTHREAD_SIGMASK.invokeExact(how, set, old);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        if (r != 0) {
            throw new NativeException("pthread_sigmask", r);
        }
    }

    /** Consumes a pending signal in {@code set} without waiting; returns the signal or -errno. */
    public static int sigtimedwaitNow(MemorySegment set, MemorySegment zeroTimespec) {
        MemorySegment cap = CAPTURE_BUF.get();
        int r;
        try {
            r = (int) SIGTIMEDWAIT.invokeExact(cap, set, MemorySegment.NULL, zeroTimespec);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return r < 0 ? -errno(cap) : r;
    }

    /** pread(2) into {@code buf} (e.g. a guest-memory slice: no copy); returns bytes read, or -errno. */
    public static long pread(int fd, MemorySegment buf, long len, long offset) {
        MemorySegment cap = CAPTURE_BUF.get();
        long r;
        try {
            r = (long) PREAD.invokeExact(cap, fd, buf, len, offset);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return r < 0 ? -errno(cap) : r;
    }

    /** pwrite(2) from {@code buf}; returns bytes written, or -errno. */
    public static long pwrite(int fd, MemorySegment buf, long len, long offset) {
        MemorySegment cap = CAPTURE_BUF.get();
        long r;
        try {
            r = (long) PWRITE.invokeExact(cap, fd, buf, len, offset);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return r < 0 ? -errno(cap) : r;
    }

    /** readv(2) over an array of {@code count} struct iovec; returns bytes read, or -errno. */
    public static long readv(int fd, MemorySegment iov, int count) {
        MemorySegment cap = CAPTURE_BUF.get();
        long r;
        try {
            r = (long) READV.invokeExact(cap, fd, iov, count);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return r < 0 ? -errno(cap) : r;
    }

    /** writev(2) over an array of {@code count} struct iovec; returns bytes written, or -errno. */
    public static long writev(int fd, MemorySegment iov, int count) {
        MemorySegment cap = CAPTURE_BUF.get();
        long r;
        try {
            r = (long) WRITEV.invokeExact(cap, fd, iov, count);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return r < 0 ? -errno(cap) : r;
    }

    /** fsync(2); returns 0 or -errno. */
    public static int fsync(int fd) {
        MemorySegment cap = CAPTURE_BUF.get();
        int r;
        try {
            r = (int) FSYNC.invokeExact(cap, fd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return r < 0 ? -errno(cap) : r;
    }

    /** fdatasync(2); returns 0 or -errno. */
    public static int fdatasync(int fd) {
        MemorySegment cap = CAPTURE_BUF.get();
        int r;
        try {
            r = (int) FDATASYNC.invokeExact(cap, fd);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return r < 0 ? -errno(cap) : r;
    }

    /** fallocate(2); returns 0 or -errno (e.g. -EOPNOTSUPP where the filesystem lacks the mode). */
    public static int fallocate(int fd, int mode, long offset, long len) {
        MemorySegment cap = CAPTURE_BUF.get();
        int r;
        try {
            r = (int) FALLOCATE.invokeExact(cap, fd, mode, offset, len);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return r < 0 ? -errno(cap) : r;
    }

    /** lseek(2); returns the new offset or -errno. */
    public static long lseek(int fd, long offset, int whence) {
        MemorySegment cap = CAPTURE_BUF.get();
        long r;
        try {
            r = (long) LSEEK.invokeExact(cap, fd, offset, whence);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return r < 0 ? -errno(cap) : r;
    }

    /** struct flock (x86-64): l_type, l_whence (shorts), l_start, l_len (off_t), l_pid. */
    private static final int FLOCK_SIZE = 32;

    /**
     * Takes (or with {@link #F_UNLCK} drops) an open-file-description lock on the whole file
     * without waiting (F_OFD_SETLK). OFD locks belong to the open file, not the process, so two
     * opens in one JVM conflict exactly like two processes would. Returns 0 or -errno
     * (-EAGAIN/-EACCES: someone else holds a conflicting lock).
     */
    public static int ofdLock(int fd, short type) {
        MemorySegment cap = CAPTURE_BUF.get();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fl = a.allocate(FLOCK_SIZE, 8);
            fl.set(ValueLayout.JAVA_SHORT, 0, type);
            fl.set(ValueLayout.JAVA_SHORT, 2, (short) 0); // SEEK_SET
            fl.set(ValueLayout.JAVA_LONG, 8, 0L);
            fl.set(ValueLayout.JAVA_LONG, 16, 0L); // 0 = to end of file, however it grows
            fl.set(ValueLayout.JAVA_INT, 24, 0); // must be 0 for OFD locks
            int r = (int) FCNTL_PTR.invokeExact(cap, fd, F_OFD_SETLK, fl);
            return r < 0 ? -errno(cap) : r;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** memfd_create(2): an anonymous file, empty until it is written or truncated longer. */
    public static int memfdCreate(String name, int flags) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cap = CAPTURE_BUF.get();
            int fd = (int) MEMFD_CREATE.invokeExact(cap, a.allocateFrom(name), flags);
            if (fd < 0) {
                throw new NativeException("memfd_create(" + name + ")", errno(cap));
            }
            return fd;
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** socketpair(2); returns the two descriptors. */
    public static int[] socketpair(int domain, int type, int protocol) {
        MemorySegment cap = CAPTURE_BUF.get();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment fds = a.allocate(8, 4);
            int r = (int) SOCKETPAIR.invokeExact(cap, domain, type, protocol, fds);
            if (r < 0) {
                throw new NativeException("socketpair", errno(cap));
            }
            return new int[] {fds.get(JAVA_INT, 0), fds.get(JAVA_INT, 4)};
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** ioctl with a pointer argument returning -errno instead of throwing. */
    public static int ioctlOrErrno(int fd, long request, MemorySegment arg) {
        MemorySegment cap = CAPTURE_BUF.get();
        int r;
        try {
            r = (int) IOCTL_PTR.invokeExact(cap, fd, request, arg);
        } catch (Throwable t) {
            throw rethrow(t);
        }
        return r < 0 ? -errno(cap) : r;
    }
}
