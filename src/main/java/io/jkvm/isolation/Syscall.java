package io.jkvm.isolation;

import io.jkvm.kvm.NativeException;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The raw system calls confinement needs, through libc's {@code syscall(2)} wrapper bound with
 * FFM: glibc has no wrappers for landlock_*(2) (and its seccomp(2) wrapper is recent), and the
 * calls must be exactly the kernel's (no libc emulation in between). Numbers are x86-64's, from
 * {@code asm/unistd_64.h}; jkvm runs on x86-64 only. {@code errno} is captured at the call
 * site, as {@link io.jkvm.kvm.Native} does, and a failure names the call and the errno.
 */
final class Syscall {
    private Syscall() {}

    static final long CLOSE = 3;
    static final long PRCTL = 157;
    static final long SECCOMP = 317;
    static final long LANDLOCK_CREATE_RULESET = 444;
    static final long LANDLOCK_ADD_RULE = 445;
    static final long LANDLOCK_RESTRICT_SELF = 446;

    // errno values (asm-generic/errno-base.h, errno.h)
    static final int EPERM = 1;
    static final int EINVAL = 22;
    static final int ENOSYS = 38;
    static final int EOPNOTSUPP = 95;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    // long syscall(long number, ...): everything after the number is variadic; each argument is
    // passed as a long (pointers by address), which is how the kernel takes them anyway. Five are
    // always passed, unused ones 0: prctl(PR_SET_NO_NEW_PRIVS) refuses non-zero arguments 3 to 5,
    // and syscall(2) hands the kernel whatever is in those registers otherwise.
    private static final MethodHandle SYSCALL = LINKER.downcallHandle(
            LINKER.defaultLookup().find("syscall").orElseThrow(() -> new UnsatisfiedLinkError("libc lacks syscall")),
            FunctionDescriptor.of(JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_LONG),
            Linker.Option.captureCallState("errno"), Linker.Option.firstVariadicArg(1));
    private static final ThreadLocal<MemorySegment> CAPTURE_BUF =
            ThreadLocal.withInitial(() -> java.lang.foreign.Arena.global().allocate(CAPTURE));

    /** The result of one call: its return value, or -1 and the errno. */
    record Result(long value, int errno) {
        boolean failed() {
            return value == -1;
        }

        /** The value, or a {@link NativeException} naming {@code call} and the errno. */
        long orThrow(String call) {
            if (failed()) {
                throw new NativeException(call, errno);
            }
            return value;
        }
    }

    static Result call(long nr, long a1, long a2, long a3, long a4) {
        return call(nr, a1, a2, a3, a4, 0);
    }

    static Result call(long nr, long a1, long a2, long a3, long a4, long a5) {
        MemorySegment cap = CAPTURE_BUF.get();
        long r;
        try {
            r = (long) SYSCALL.invokeExact(cap, nr, a1, a2, a3, a4, a5);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
        return new Result(r, r == -1 ? (int) ERRNO.get(cap, 0L) : 0);
    }

    static Result call(long nr, long a1, long a2, long a3) {
        return call(nr, a1, a2, a3, 0);
    }

    /** PR_SET_NO_NEW_PRIVS (linux/prctl.h). */
    private static final long PR_SET_NO_NEW_PRIVS = 38;

    /**
     * prctl(PR_SET_NO_NEW_PRIVS): no exec by this thread or its children gains privileges (set-uid,
     * file capabilities) from here on; inherited across fork and execve.
     */
    static void noNewPrivs() {
        call(PRCTL, PR_SET_NO_NEW_PRIVS, 1, 0, 0).orThrow("prctl(PR_SET_NO_NEW_PRIVS)");
    }

    /** close(2), whose errors leave the descriptor closed on Linux: nothing to report. */
    static void close(int fd) {
        call(CLOSE, fd, 0, 0);
    }
}
