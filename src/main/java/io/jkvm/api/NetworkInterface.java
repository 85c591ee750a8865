package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Firecracker's {@code PUT /network-interfaces/{iface_id}} body: a virtio-net device backed by
 * a host TAP device. Accepted, validated and kept; attached at the device seam ({@link GuestDevices}).
 */
public record NetworkInterface(
        @JsonProperty("iface_id") String ifaceId,
        @JsonProperty("host_dev_name") String hostDevName,
        @JsonProperty("guest_mac") String guestMac,
        @JsonProperty("rx_rate_limiter") RateLimiter rxRateLimiter,
        @JsonProperty("tx_rate_limiter") RateLimiter txRateLimiter) {
}
