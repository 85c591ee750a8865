package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Firecracker's {@code PUT /network-interfaces/{iface_id}} body: a virtio-net device backed by
 * a host TAP device. Accepted, validated and kept; attached at the device seam ({@link GuestDevices}).
 * {@code rx_rate_limiter} (frames to the guest) and {@code tx_rate_limiter} (frames from it) are
 * enforced by the virtio-net device, and a {@code PATCH} changes them on a running VM.
 */
public record NetworkInterface(
        @JsonProperty("iface_id") String ifaceId,
        @JsonProperty("host_dev_name") String hostDevName,
        @JsonProperty("guest_mac") String guestMac,
        @JsonProperty("rx_rate_limiter") RateLimiter rxRateLimiter,
        @JsonProperty("tx_rate_limiter") RateLimiter txRateLimiter) {
}
