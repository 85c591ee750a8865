package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Firecracker's {@code RateLimiter}: an optional {@code bandwidth} bucket (bytes) and an optional
 * {@code ops} bucket (requests or frames). Parsed as strictly as the top-level objects (unknown
 * fields and wrong types are refused naming them, e.g. {@code rate_limiter.bandwidth.size}).
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
}
