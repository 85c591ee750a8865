package io.jkvm.kvm;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
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

    private static final MethodHandle SETAFFINITY = Native.errnoFn("sched_setaffinity", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS));
    private static final MethodHandle GETAFFINITY = Native.errnoFn("sched_getaffinity", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_LONG, ADDRESS));
    private static final MethodHandle SETSCHEDULER = Native.errnoFn("sched_setscheduler", FunctionDescriptor.of(JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS));
    private static final MethodHandle GETSCHEDULER = Native.errnoFn("sched_getscheduler", FunctionDescriptor.of(JAVA_INT, JAVA_INT));
    private static final MethodHandle MLOCK = Native.errnoFn("mlock", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG));

    private Scheduling() {}

    private static int result(int r, MemorySegment cap) {
        return r < 0 ? -Native.errno(cap) : r;
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
            MemorySegment cap = Native.CAPTURE_BUF.get();
            return result((int) SETAFFINITY.invokeExact(cap, tid, bytes, mask), cap);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** sched_getaffinity(tid): the CPUs the thread may run on (null if it cannot be read). */
    public static BitSet affinity(int tid) {
        long bytes = maskBytes(MAX_CPUS);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment mask = a.allocate(bytes, 8);
            MemorySegment cap = Native.CAPTURE_BUF.get();
            int r = result((int) GETAFFINITY.invokeExact(cap, tid, bytes, mask), cap);
            return r < 0 ? null : BitSet.valueOf(mask.toArray(ValueLayout.JAVA_LONG));
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** sched_setscheduler(tid, policy, {priority}): 0 or -errno (EPERM: no CAP_SYS_NICE or RLIMIT_RTPRIO). */
    public static int setScheduler(int tid, int policy, int priority) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment param = a.allocateFrom(JAVA_INT, priority);
            MemorySegment cap = Native.CAPTURE_BUF.get();
            return result((int) SETSCHEDULER.invokeExact(cap, tid, policy, param), cap);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** sched_getscheduler(tid): the policy, or -errno. */
    public static int scheduler(int tid) {
        try {
            MemorySegment cap = Native.CAPTURE_BUF.get();
            return result((int) GETSCHEDULER.invokeExact(cap, tid), cap);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    /** mlock(2) of {@code seg}: every page resident and locked; 0 or -errno (ENOMEM/EPERM: RLIMIT_MEMLOCK). */
    public static int mlock(MemorySegment seg) {
        try {
            MemorySegment cap = Native.CAPTURE_BUF.get();
            return result((int) MLOCK.invokeExact(cap, seg, seg.byteSize()), cap);
        } catch (Throwable t) {
            throw Native.rethrow(t);
        }
    }

    private static long maskBytes(int bits) {
        return Math.max(8, ((long) bits + 63) / 64 * 8);
    }
}
