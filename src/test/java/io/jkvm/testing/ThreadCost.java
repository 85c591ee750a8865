package io.jkvm.testing;

import java.lang.management.ManagementFactory;

/**
 * What one thread (a device's I/O thread, say) has cost so far: CPU time and bytes allocated on
 * the Java heap, read through HotSpot's per-thread counters. {@link #since} gives the difference,
 * so a test can bound what one request, kick or observation window cost that thread.
 */
public record ThreadCost(long cpuNanos, long allocatedBytes) {
    private static final com.sun.management.ThreadMXBean BEAN =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    static {
        BEAN.setThreadCpuTimeEnabled(true);
        BEAN.setThreadAllocatedMemoryEnabled(true);
    }

    /** The thread's counters now (zeros if it has ended). */
    public static ThreadCost of(long threadId) {
        return new ThreadCost(Math.max(0, BEAN.getThreadCpuTime(threadId)), Math.max(0, BEAN.getThreadAllocatedBytes(threadId)));
    }

    /** This thread's counters minus {@code before}'s. */
    public ThreadCost since(ThreadCost before) {
        return new ThreadCost(cpuNanos - before.cpuNanos, allocatedBytes - before.allocatedBytes);
    }

    @Override
    public String toString() {
        return String.format("%.1f ms CPU, %d bytes allocated", cpuNanos / 1e6, allocatedBytes);
    }
}
