package io.jkvm.migration;

/**
 * Pre-copy's decisions, kept free of I/O so they can be tested on their own.
 *
 * <p>After each round the remaining dirty set is sent at the bandwidth measured so far: when that
 * takes no longer than the downtime target, the VM is paused and the rest goes (stop-and-copy).
 * Otherwise another round runs. When a round leaves at least as many dirty pages as the one
 * before (the guest dirties memory as fast as we send it), auto-converge throttles the vCPUs: 20%
 * at first, then 10 points more per round that does not shrink, up to 90%. After
 * {@link #MAX_ROUNDS} the VM is paused anyway and the downtime is whatever it takes.
 */
public record Convergence(long maxDowntimeMillis) {
    public static final int MAX_ROUNDS = 30;
    static final int FIRST_THROTTLE = 20;
    static final int THROTTLE_STEP = 10;
    static final int MAX_THROTTLE = 90;

    public Convergence {
        if (maxDowntimeMillis < 1 || maxDowntimeMillis > 3_600_000) {
            throw new MigrationException("max_downtime_ms: " + maxDowntimeMillis + " outside 1..3600000");
        }
    }

    /** Expected stop-and-copy time of {@code dirtyBytes} at {@code bytesPerSecond}. */
    static double expectedMillis(long dirtyBytes, double bytesPerSecond) {
        return bytesPerSecond <= 0 ? Double.POSITIVE_INFINITY : dirtyBytes * 1000.0 / bytesPerSecond;
    }

    /** Whether to pause now, after {@code round} (0-based) left {@code dirtyBytes}. */
    boolean stopAndCopy(int round, long dirtyBytes, double bytesPerSecond) {
        return round + 1 >= MAX_ROUNDS || expectedMillis(dirtyBytes, bytesPerSecond) <= maxDowntimeMillis;
    }

    /** The vCPU throttle for the next round, given the last two dirty-set sizes and the current throttle. */
    static int nextThrottle(long previousDirty, long dirty, int throttle) {
        if (previousDirty < 0 || dirty < previousDirty) {
            return throttle;
        }
        return throttle == 0 ? FIRST_THROTTLE : Math.min(MAX_THROTTLE, throttle + THROTTLE_STEP);
    }
}
