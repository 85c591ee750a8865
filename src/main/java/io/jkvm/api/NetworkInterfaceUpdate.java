package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/** Firecracker's {@code PATCH /network-interfaces/{iface_id}} body (rate limiters only). */
public record NetworkInterfaceUpdate(
        @JsonProperty("iface_id") String ifaceId,
        @JsonProperty("rx_rate_limiter") RateLimiter rxRateLimiter,
        @JsonProperty("tx_rate_limiter") RateLimiter txRateLimiter) {
}
