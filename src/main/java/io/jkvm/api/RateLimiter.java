package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;
import io.jkvm.resources.BucketConfig;
import io.jkvm.resources.RateLimitConfig;

/**
 * Firecracker's {@code RateLimiter}: an optional {@code bandwidth} bucket (bytes) and an optional
 * {@code ops} bucket (requests or frames). Parsed as strictly as the top-level objects (unknown
 * fields and wrong types are refused naming them, e.g. {@code rate_limiter.bandwidth.size}).
 * Enforced by the devices ({@link #toConfig} is what they get): virtio-blk for a drive's
 * {@code rate_limiter}, virtio-net for an interface's {@code rx_rate_limiter} and
 * {@code tx_rate_limiter}.
 */
public record RateLimiter(
        @JsonProperty("bandwidth") TokenBucket bandwidth,
        @JsonProperty("ops") TokenBucket ops) {

    /** Refuses a bucket Firecracker would not parse; {@code field} is where this limiter is (rate_limiter, rx_rate_limiter...). */
    void validate(String field) {
        if (bandwidth != null) {
            bandwidth.validate(field + ".bandwidth");
        }
        if (ops != null) {
            ops.validate(field + ".ops");
        }
    }

    /** Whether either bucket limits anything. */
    public boolean limits() {
        return (bandwidth != null && bandwidth.limits()) || (ops != null && ops.limits());
    }

    /** The devices' configuration of {@code limiter} (validated; null: no limiter); a missing bucket does not limit. */
    static RateLimitConfig toConfig(RateLimiter limiter) {
        if (limiter == null) {
            return RateLimitConfig.UNLIMITED;
        }
        return new RateLimitConfig(limiter.bandwidth != null ? limiter.bandwidth.toConfig() : BucketConfig.UNLIMITED,
                limiter.ops != null ? limiter.ops.toConfig() : BucketConfig.UNLIMITED);
    }

    /**
     * {@code current} after a {@code PATCH} with {@code update}, as Firecracker updates a limiter:
     * a bucket the update gives replaces the current one (size 0 or refill_time 0 switches it
     * off), a bucket it leaves out stays as it is; no update leaves the limiter as it is.
     */
    static RateLimiter patched(RateLimiter current, RateLimiter update) {
        if (update == null) {
            return current;
        }
        if (current == null) {
            return update;
        }
        return new RateLimiter(update.bandwidth != null ? update.bandwidth : current.bandwidth,
                update.ops != null ? update.ops : current.ops);
    }
}
