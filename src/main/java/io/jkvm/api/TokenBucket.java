package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;
import io.jkvm.resources.BucketConfig;

/**
 * Firecracker's {@code TokenBucket}: {@code size} tokens (bytes or operations) refilled over
 * {@code refill_time} milliseconds, plus {@code one_time_burst} extra tokens at the start that are
 * not refilled. A bucket with size 0 or refill time 0 does not limit (as in Firecracker). Fields
 * are unsigned 64-bit there: negative values are refused.
 */
public record TokenBucket(
        @JsonProperty("size") Long size,
        @JsonProperty("one_time_burst") Long oneTimeBurst,
        @JsonProperty("refill_time") Long refillTime) {

    /** Refuses what Firecracker would not parse, naming {@code field}'s members. */
    void validate(String field) {
        if (size == null) {
            throw ApiException.badRequest("missing field '" + field + ".size'");
        }
        if (refillTime == null) {
            throw ApiException.badRequest("missing field '" + field + ".refill_time'");
        }
        nonNegative(field + ".size", size);
        nonNegative(field + ".refill_time", refillTime);
        if (oneTimeBurst != null) {
            nonNegative(field + ".one_time_burst", oneTimeBurst);
        }
        // Firecracker silently disables a bucket whose refill time overflows in nanoseconds; a
        // setting that does nothing is refused here instead.
        if (refillTime > BucketConfig.MAX_REFILL_TIME_MS) {
            throw ApiException.badRequest(field + ".refill_time " + refillTime + ": must be at most "
                    + BucketConfig.MAX_REFILL_TIME_MS + " (ms)");
        }
    }

    /** The engine's configuration of this (validated) bucket; a missing one_time_burst is 0. */
    BucketConfig toConfig() {
        return new BucketConfig(size, oneTimeBurst != null ? oneTimeBurst : 0, refillTime);
    }

    /** Whether this bucket limits anything (Firecracker: size and refill time both non-zero). */
    public boolean limits() {
        return size != null && refillTime != null && size > 0 && refillTime > 0;
    }

    private static void nonNegative(String field, long v) {
        if (v < 0) {
            throw ApiException.badRequest(field + " " + v + ": must not be negative");
        }
    }
}
