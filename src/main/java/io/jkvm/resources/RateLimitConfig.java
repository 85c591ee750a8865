package io.jkvm.resources;

import java.util.Objects;

/**
 * A rate limiter's configuration, as Firecracker's {@code RateLimiter} object: a bandwidth bucket
 * (tokens are bytes) and an ops bucket (tokens are requests or frames). Either may be
 * {@link BucketConfig#UNLIMITED}. This is configuration, never device state: snapshots keep it
 * with the VM's configuration and a restored limiter starts with full buckets.
 */
public record RateLimitConfig(BucketConfig bandwidth, BucketConfig ops) {
    public static final RateLimitConfig UNLIMITED = new RateLimitConfig(BucketConfig.UNLIMITED, BucketConfig.UNLIMITED);

    public RateLimitConfig {
        Objects.requireNonNull(bandwidth, "bandwidth");
        Objects.requireNonNull(ops, "ops");
    }

    /** Whether either bucket limits anything. */
    public boolean limits() {
        return bandwidth.limits() || ops.limits();
    }
}
