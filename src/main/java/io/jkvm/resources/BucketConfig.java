package io.jkvm.resources;

/**
 * One token bucket's configuration, as Firecracker's {@code TokenBucket} object: {@code size}
 * tokens (bytes or operations) refilled from empty to full over {@code refillTimeMs}
 * milliseconds, plus {@code oneTimeBurst} extra tokens available from the start and never
 * refilled. A bucket with size 0 or refill time 0 does not limit ({@link #limits}), as in
 * Firecracker.
 *
 * @param size tokens the bucket holds when full
 * @param oneTimeBurst extra tokens spent before the bucket's own, once
 * @param refillTimeMs milliseconds an empty bucket takes to fill; at most {@link #MAX_REFILL_TIME_MS}
 */
public record BucketConfig(long size, long oneTimeBurst, long refillTimeMs) {
    /** A bucket that never refuses. */
    public static final BucketConfig UNLIMITED = new BucketConfig(0, 0, 0);
    /** The largest refill time whose nanoseconds fit a long (about 292 years). */
    public static final long MAX_REFILL_TIME_MS = Long.MAX_VALUE / 1_000_000;

    public BucketConfig {
        if (size < 0 || oneTimeBurst < 0 || refillTimeMs < 0) {
            throw new IllegalArgumentException("token bucket values must not be negative: size " + size
                    + ", one_time_burst " + oneTimeBurst + ", refill_time " + refillTimeMs);
        }
        if (refillTimeMs > MAX_REFILL_TIME_MS) {
            throw new IllegalArgumentException("refill_time " + refillTimeMs + " ms exceeds " + MAX_REFILL_TIME_MS + " ms");
        }
    }

    /** Whether this bucket limits anything (size and refill time both non-zero). */
    public boolean limits() {
        return size > 0 && refillTimeMs > 0;
    }

    long refillNanos() {
        return refillTimeMs * 1_000_000;
    }
}
