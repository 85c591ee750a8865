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
import java.util.BitSet;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * Thread placement system calls: CPU affinity (sched_setaffinity(2), per thread id), scheduling
 * policy and real-time priority (sched_setscheduler(2)), and locking memory (mlock(2)). Each
 * returns 0 or a negative errno; callers name the setting in their error.
 */
public final class Scheduling {
    public static final int SCHED_OTHER = 0;
    public static final int SCHED_FIFO = 1;
    public static final int SCHED_RR = 2;
    /** The largest CPU number a mask may name (the kernel's NR_CPUS can be 8192). */
    public static final int MAX_CPUS = 8192;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CAPTURE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");

    private static final MethodHandle SETAFFINITY = fn("sched_setaffinity", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS));
    private static final MethodHandle GETAFFINITY = fn("sched_getaffinity", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS));
    private static final MethodHandle SETSCHEDULER = fn("sched_setscheduler", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle GETSCHEDULER = fn("sched_getscheduler", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle MLOCK = fn("mlock", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));

    private Scheduling() {}

    private static MethodHandle fn(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc lacks " + name)),
                fd, CAPTURE_ERRNO);
    }

    private static int result(int r, MemorySegment cap) {
        return r < 0 ? -(int) ERRNO.get(cap, 0L) : r;
    }

    /** sched_setaffinity(tid, cpus): 0 or -errno (EINVAL: no CPU of the set is usable). */
    public static int setAffinity(int tid, BitSet cpus) {
        long bytes = maskBytes(cpus.length());
        try (Arena a = Arena.ofConfined()) {
            MemorySegment mask = a.allocate(bytes, 8);
            long[] words = cpus.toLongArray();
            for (int i = 0; i < words.length; i++) {
                mask.setAtIndex(ValueLayout.JAVA_LONG, i, words[i]);
            }
            MemorySegment cap = a.allocate(CAPTURE);
            return result((int) SETAFFINITY.invokeExact(cap, tid, bytes, mask), cap);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** sched_getaffinity(tid): the CPUs the thread may run on (null if it cannot be read). */
    public static BitSet affinity(int tid) {
        long bytes = maskBytes(MAX_CPUS);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment mask = a.allocate(bytes, 8);
            MemorySegment cap = a.allocate(CAPTURE);
            int r = result((int) GETAFFINITY.invokeExact(cap, tid, bytes, mask), cap);
            return r < 0 ? null : BitSet.valueOf(mask.toArray(ValueLayout.JAVA_LONG));
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** sched_setscheduler(tid, policy, {priority}): 0 or -errno (EPERM: no CAP_SYS_NICE or RLIMIT_RTPRIO). */
    public static int setScheduler(int tid, int policy, int priority) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment param = a.allocateFrom(JAVA_INT, priority);
            MemorySegment cap = a.allocate(CAPTURE);
            return result((int) SETSCHEDULER.invokeExact(cap, tid, policy, param), cap);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** sched_getscheduler(tid): the policy, or -errno. */
    public static int scheduler(int tid) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cap = a.allocate(CAPTURE);
            return result((int) GETSCHEDULER.invokeExact(cap, tid), cap);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** mlock(2) of {@code seg}: every page resident and locked; 0 or -errno (ENOMEM/EPERM: RLIMIT_MEMLOCK). */
    public static int mlock(MemorySegment seg) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cap = a.allocate(CAPTURE);
            return result((int) MLOCK.invokeExact(cap, seg, seg.byteSize()), cap);
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static long maskBytes(int bits) {
        return Math.max(8, ((long) bits + 63) / 64 * 8);
    }

    private static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException(t);
    }
}
