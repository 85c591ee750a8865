package io.jkvm.kvm;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * File calls that act on a descriptor rather than a path: open a name relative to a directory
 * descriptor (openat(2)), read a file's status (fstat(2)) and change its owner and mode
 * (fchown(2), fchmod(2)). A check made with {@link #fstat} and a change made with
 * {@link #fchown}/{@link #fchmod} on the same descriptor concern the same inode, whatever is
 * renamed or linked in its place meanwhile. Failures are {@link NativeException}s naming the call,
 * the file and the errno. Bound apart from {@link Native} so that a libc without these symbols
 * (glibc exports fstat from 2.33) fails only these calls.
 */
public final class FileCalls {
    private FileCalls() {}

    // open(2) flags (asm-generic/fcntl.h, x86-64 values).
    public static final int O_DIRECTORY = 0x10000;
    public static final int O_NOFOLLOW = 0x20000;
    /** A descriptor that only names the file: nothing of a device or FIFO is opened, a link is held as itself. */
    public static final int O_PATH = 0x200000;
    // st_mode file types (linux/stat.h).
    public static final int S_IFMT = 0170000;
    public static final int S_IFREG = 0100000;

    /** sizeof(struct stat) on x86-64 (asm/stat.h; glibc's is the kernel's). */
    private static final int STAT_SIZE = 144;
    private static final int ST_DEV = 0;
    private static final int ST_INO = 8;
    private static final int ST_NLINK = 16;
    private static final int ST_MODE = 24;
    private static final int ST_UID = 28;
    private static final int ST_GID = 32;
    private static final int ST_SIZE = 48;

    // openat(int dirfd, const char *path, int flags, ...): the mode is variadic, as in Native's open.
    private static final MethodHandle OPENAT = Native.errnoFn("openat",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT), 3);
    private static final MethodHandle FSTAT = Native.errnoFn("fstat", FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle FCHOWN = Native.errnoFn("fchown",
            FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT));
    private static final MethodHandle FCHMOD = Native.errnoFn("fchmod", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT));

    /** The fields of struct stat jkvm decides on. */
    public record Stat(long dev, long ino, long nlink, int mode, int uid, int gid, long size) {
        public boolean isRegularFile() {
            return (mode & S_IFMT) == S_IFREG;
        }

        /** Whether {@code other} describes the same inode. */
        public boolean sameFile(Stat other) {
            return dev == other.dev && ino == other.ino;
        }
    }

    /**
     * openat(2) of {@code name} relative to directory descriptor {@code dirFd}; {@code what} names
     * the file in the error (e.g. its full path).
     */
    public static int openat(int dirFd, String name, int flags, String what) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cap = Native.CAPTURE_BUF.get();
            int fd = (int) OPENAT.invokeExact(cap, dirFd, a.allocateFrom(name), flags, 0);
            if (fd < 0) {
                throw new NativeException("openat(" + what + ")", Native.errno(cap));
            }
            return fd;
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** fstat(2) of {@code fd} (which may be an O_PATH descriptor); {@code what} names the file in the error. */
    public static Stat fstat(int fd, String what) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(STAT_SIZE, 8);
            MemorySegment cap = Native.CAPTURE_BUF.get();
            if ((int) FSTAT.invokeExact(cap, fd, st) < 0) {
                throw new NativeException("fstat(" + what + ")", Native.errno(cap));
            }
            return new Stat(st.get(JAVA_LONG, ST_DEV), st.get(JAVA_LONG, ST_INO), st.get(JAVA_LONG, ST_NLINK),
                    st.get(JAVA_INT, ST_MODE), st.get(JAVA_INT, ST_UID), st.get(JAVA_INT, ST_GID), st.get(JAVA_LONG, ST_SIZE));
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** fchown(2): owner {@code uid} and group {@code gid}; {@code what} names the file in the error. */
    public static void fchown(int fd, int uid, int gid, String what) {
        MemorySegment cap = Native.CAPTURE_BUF.get();
        int r;
        try {
            r = (int) FCHOWN.invokeExact(cap, fd, uid, gid);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
        if (r < 0) {
            throw new NativeException("fchown(" + what + ", " + uid + ":" + gid + ")", Native.errno(cap));
        }
    }

    /** fchmod(2) to the permission bits {@code mode}; {@code what} names the file in the error. */
    public static void fchmod(int fd, int mode, String what) {
        MemorySegment cap = Native.CAPTURE_BUF.get();
        int r;
        try {
            r = (int) FCHMOD.invokeExact(cap, fd, mode);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
        if (r < 0) {
            throw new NativeException("fchmod(" + what + ", 0" + Integer.toOctalString(mode) + ")", Native.errno(cap));
        }
    }
}
