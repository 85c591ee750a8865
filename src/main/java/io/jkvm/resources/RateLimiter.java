package io.jkvm.resources;

import java.util.Objects;

/**
 * A bandwidth bucket and an ops bucket consumed together ({@link RateLimitConfig}), on an
 * injectable clock. A request is granted only if both buckets admit it, and then takes from
 * both; a refused request takes nothing and {@link #consume} says how long until it would be
 * granted, so the caller can arm one timer instead of retrying. {@link #charge} takes tokens
 * after the fact (virtio-net receive learns a frame's size only once it is read) and may leave a
 * bucket in debt, which later requests wait out.
 *
 * <p>Not thread-safe: one I/O thread consumes; {@link Throttle} adds reconfiguration from
 * other threads.
 */
public final class RateLimiter {
    private final NanoClock clock;
    private RateLimitConfig config;
    /** Null where the configuration does not limit. */
    private TokenBucket bandwidth;
    private TokenBucket ops;

    public RateLimiter(RateLimitConfig config, NanoClock clock) {
        this.clock = Objects.requireNonNull(clock, "clock");
        this.config = RateLimitConfig.UNLIMITED;
        reconfigure(config);
    }

    public RateLimitConfig config() {
        return config;
    }

    /**
     * Takes {@code bytes} and {@code ops} tokens and returns 0, or takes nothing and returns the
     * nanoseconds until the same request would be granted (at least 1).
     */
    public long consume(long bytes, long opCount) {
        long wait = nanosUntil(bytes, opCount);
        if (wait == 0) {
            take(bytes, opCount);
        }
        return wait;
    }

    /** Nanoseconds until {@code bytes} and {@code ops} would be granted; 0 if now. Takes nothing. */
    public long nanosUntil(long bytes, long opCount) {
        requireTokens(bytes, opCount);
        long now = clock.nanoTime();
        return Math.max(waitFor(bandwidth, bytes, now), waitFor(ops, opCount, now));
    }

    /** Takes tokens for work already done, whatever the buckets hold (debt is paid back before anything else is granted). */
    public void charge(long bytes, long opCount) {
        requireTokens(bytes, opCount);
        long now = clock.nanoTime();
        if (bandwidth != null) {
            bandwidth.refill(now);
        }
        if (ops != null) {
            ops.refill(now);
        }
        take(bytes, opCount);
    }

    /**
     * Applies a new configuration. A bucket whose configuration is unchanged keeps its level; a
     * changed one starts full, as Firecracker's bucket update does.
     */
    public void reconfigure(RateLimitConfig c) {
        Objects.requireNonNull(c, "config");
        long now = clock.nanoTime();
        if (!c.bandwidth().equals(config.bandwidth())) {
            bandwidth = c.bandwidth().limits() ? new TokenBucket(c.bandwidth(), now) : null;
        }
        if (!c.ops().equals(config.ops())) {
            ops = c.ops().limits() ? new TokenBucket(c.ops(), now) : null;
        }
        config = c;
    }

    private static long waitFor(TokenBucket b, long tokens, long now) {
        if (b == null || tokens == 0) {
            return 0;
        }
        b.refill(now);
        return b.nanosUntil(tokens, now);
    }

    private void take(long bytes, long opCount) {
        if (bandwidth != null && bytes > 0) {
            bandwidth.take(bytes);
        }
        if (ops != null && opCount > 0) {
            ops.take(opCount);
        }
    }

    private static void requireTokens(long bytes, long opCount) {
        if (bytes < 0 || opCount < 0) {
            throw new IllegalArgumentException("negative tokens: " + bytes + " bytes, " + opCount + " ops");
        }
    }

    @Override
    public String toString() {
        return "RateLimiter[bandwidth=" + bandwidth + ", ops=" + ops + "]";
    }
}
