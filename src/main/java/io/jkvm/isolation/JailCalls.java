package io.jkvm.isolation;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The system calls that build a jail (mount namespace, pivot_root, device nodes, limits, exec),
 * as raw x86-64 system calls through {@link Syscall}. Each failure names the call, its path and
 * the errno. Namespaces, the root and the working directory are per thread on Linux: every call
 * here acts on the calling thread, so {@link Jail} makes them all on one thread, the one that
 * finally execs or spawns the VMM.
 */
final class JailCalls {
    private JailCalls() {}

    // asm/unistd_64.h
    private static final long DUP2 = 33;
    private static final long EXECVE = 59;
    private static final long CHDIR = 80;
    private static final long SETSID = 112;
    private static final long MKNOD = 133;
    private static final long PIVOT_ROOT = 155;
    private static final long CHROOT = 161;
    private static final long MOUNT = 165;
    private static final long UMOUNT2 = 166;
    private static final long UNSHARE = 272;
    private static final long PRLIMIT64 = 302;
    private static final long SETNS = 308;
    private static final long CLOSE_RANGE = 436;

    // linux/sched.h
    static final long CLONE_NEWNS = 0x00020000;
    static final long CLONE_NEWPID = 0x20000000;
    static final long CLONE_NEWNET = 0x40000000;
    // linux/mount.h
    static final long MS_RDONLY = 1;
    static final long MS_NOSUID = 2;
    static final long MS_NODEV = 4;
    static final long MS_NOEXEC = 8;
    static final long MS_REMOUNT = 32;
    static final long MS_BIND = 4096;
    static final long MS_REC = 16384;
    static final long MS_PRIVATE = 1 << 18;
    static final long MNT_DETACH = 2;
    // sys/stat.h; sys/resource.h; linux/close_range.h
    static final long S_IFCHR = 0020000;
    static final int RLIMIT_FSIZE = 1;
    static final int RLIMIT_NOFILE = 7;
    private static final long CLOSE_RANGE_CLOEXEC = 1 << 2;

    static void unshare(long flags, String why) {
        Syscall.call(UNSHARE, flags, 0, 0).orThrow("unshare(" + why + ")");
    }

    static void mount(String source, String target, String fsType, long flags, String data) {
        try (Arena a = Arena.ofConfined()) {
            Syscall.call(MOUNT, str(a, source), str(a, target), str(a, fsType), flags, str(a, data))
                    .orThrow("mount(" + (source == null ? "" : source + " on ") + target + ")");
        }
    }

    /** A read-only, nosuid, nodev bind of {@code source} at {@code target} (a bind takes its flags on a remount). */
    static void bindReadOnly(String source, String target) {
        mount(source, target, null, MS_BIND | MS_REC, null);
        mount(null, target, null, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, null);
    }

    static void umountDetached(String target) {
        try (Arena a = Arena.ofConfined()) {
            Syscall.call(UMOUNT2, str(a, target), MNT_DETACH, 0).orThrow("umount2(" + target + ")");
        }
    }

    static void pivotRoot(String newRoot, String putOld) {
        try (Arena a = Arena.ofConfined()) {
            Syscall.call(PIVOT_ROOT, str(a, newRoot), str(a, putOld), 0).orThrow("pivot_root(" + newRoot + ")");
        }
    }

    static void chroot(String path) {
        pathCall(CHROOT, "chroot", path);
    }

    static void chdir(String path) {
        pathCall(CHDIR, "chdir", path);
    }

    static void mknod(String path, long mode, long dev) {
        try (Arena a = Arena.ofConfined()) {
            Syscall.call(MKNOD, str(a, path), mode, dev).orThrow("mknod(" + path + ")");
        }
    }

    /** dev_t from a major and minor number (glibc's gnu_dev_makedev). */
    static long makedev(long major, long minor) {
        return (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xffL) << 12) | ((major & ~0xfffL) << 32);
    }

    static void setns(int fd, long nsType, String what) {
        Syscall.call(SETNS, fd, nsType, 0).orThrow("setns(" + what + ")");
    }

    static void setsid() {
        Syscall.call(SETSID, 0, 0, 0).orThrow("setsid");
    }

    static void dup2(int from, int to) {
        Syscall.call(DUP2, from, to, 0).orThrow("dup2(" + from + ", " + to + ")");
    }

    /** Sets a resource's soft and hard limit of this process (prlimit64 on pid 0). */
    static void setLimit(int resource, long value, String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment lim = a.allocate(16, 8);
            lim.set(JAVA_LONG, 0, value);
            lim.set(JAVA_LONG, 8, value);
            Syscall.call(PRLIMIT64, 0, resource, lim.address(), 0).orThrow("setrlimit(" + name + ", " + value + ")");
        }
    }

    /** Marks every descriptor from {@code first} up close-on-exec: the exec'd VMM inherits only 0, 1 and 2. */
    static void closeOnExecFrom(int first) {
        Syscall.call(CLOSE_RANGE, first, 0xffffffffL, CLOSE_RANGE_CLOEXEC).orThrow("close_range(" + first + ", CLOEXEC)");
    }

    /** execve(2); returns only by throwing. */
    static void execve(String path, List<String> argv, List<String> env) {
        try (Arena a = Arena.ofConfined()) {
            Syscall.call(EXECVE, str(a, path), array(a, argv), array(a, env)).orThrow("execve(" + path + ")");
        }
        throw new IllegalStateException("execve(" + path + ") returned");
    }

    private static final java.lang.invoke.MethodHandle POSIX_SPAWN = java.lang.foreign.Linker.nativeLinker().downcallHandle(
            java.lang.foreign.Linker.nativeLinker().defaultLookup().find("posix_spawn")
                    .orElseThrow(() -> new UnsatisfiedLinkError("libc lacks posix_spawn")),
            java.lang.foreign.FunctionDescriptor.of(java.lang.foreign.ValueLayout.JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS,
                    ADDRESS, ADDRESS));

    /**
     * posix_spawn(3) on the calling thread, without file actions or attributes: the child gets this
     * thread's namespaces (a new PID namespace's first process), root, credentials and signal mask.
     * Not ProcessBuilder: it starts a reaper thread afterwards, and a thread that made a new PID
     * namespace for its children cannot create threads (clone with CLONE_THREAD is EINVAL then).
     *
     * @return the child's pid
     */
    static long spawn(String path, List<String> argv, List<String> env) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment pid = a.allocate(java.lang.foreign.ValueLayout.JAVA_INT);
            int r = (int) POSIX_SPAWN.invokeExact(pid, a.allocateFrom(path), MemorySegment.NULL, MemorySegment.NULL,
                    MemorySegment.ofAddress(array(a, argv)), MemorySegment.ofAddress(array(a, env)));
            if (r != 0) {
                throw new io.jkvm.kvm.NativeException("posix_spawn(" + path + ")", r); // it returns the error number
            }
            return pid.get(java.lang.foreign.ValueLayout.JAVA_INT, 0);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    private static void pathCall(long nr, String name, String path) {
        try (Arena a = Arena.ofConfined()) {
            Syscall.call(nr, str(a, path), 0, 0).orThrow(name + "(" + path + ")");
        }
    }

    private static long str(Arena a, String s) {
        return s == null ? 0 : a.allocateFrom(s).address();
    }

    /** A NULL-terminated array of C strings. */
    private static long array(Arena a, List<String> items) {
        MemorySegment arr = a.allocate(ADDRESS.byteSize() * (items.size() + 1L), 8);
        for (int i = 0; i < items.size(); i++) {
            arr.setAtIndex(JAVA_LONG, i, str(a, items.get(i)));
        }
        arr.setAtIndex(JAVA_LONG, items.size(), 0);
        return arr.address();
    }
}
