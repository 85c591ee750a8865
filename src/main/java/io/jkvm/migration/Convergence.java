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
 *
 * <p>With {@code postcopy} (asked for by the user: a connection lost afterwards loses the guest),
 * a round that does not shrink, or the round limit, switches to post-copy instead: the VM starts
 * at the destination at once and the pages still dirty follow on demand ({@link #after}). A dirty
 * set that fits the downtime target still ends in a plain stop-and-copy.
 */
public record Convergence(long maxDowntimeMillis, boolean postcopy) {
    public static final int MAX_ROUNDS = 30;
    static final int FIRST_THROTTLE = 20;
    static final int THROTTLE_STEP = 10;
    static final int MAX_THROTTLE = 90;

    /** What follows a pre-copy round. */
    enum Next { ANOTHER_ROUND, STOP_AND_COPY, POSTCOPY }

    public Convergence {
        if (maxDowntimeMillis < 1 || maxDowntimeMillis > 3_600_000) {
            throw new MigrationException("max_downtime_ms: " + maxDowntimeMillis + " outside 1..3600000");
        }
    }

    /** Pre-copy only. */
    public Convergence(long maxDowntimeMillis) {
        this(maxDowntimeMillis, false);
    }

    /** Expected stop-and-copy time of {@code dirtyBytes} at {@code bytesPerSecond}. */
    static double expectedMillis(long dirtyBytes, double bytesPerSecond) {
        return bytesPerSecond <= 0 ? Double.POSITIVE_INFINITY : dirtyBytes * 1000.0 / bytesPerSecond;
    }

    /**
     * After round {@code round} (0-based) left {@code dirty} bytes, {@code previousDirty} after the
     * one before (negative: none yet): pause and send the rest, switch to post-copy, or go on.
     */
    Next after(int round, long previousDirty, long dirty, double bytesPerSecond) {
        if (expectedMillis(dirty, bytesPerSecond) <= maxDowntimeMillis) {
            return Next.STOP_AND_COPY;
        }
        boolean last = round + 1 >= MAX_ROUNDS;
        if (postcopy && (last || (previousDirty >= 0 && dirty >= previousDirty))) {
            return Next.POSTCOPY;
        }
        return last ? Next.STOP_AND_COPY : Next.ANOTHER_ROUND;
    }

    /** The vCPU throttle for the next round, given the last two dirty-set sizes and the current throttle. */
    static int nextThrottle(long previousDirty, long dirty, int throttle) {
        if (previousDirty < 0 || dirty < previousDirty) {
            return throttle;
        }
        return throttle == 0 ? FIRST_THROTTLE : Math.min(MAX_THROTTLE, throttle + THROTTLE_STEP);
    }
}
