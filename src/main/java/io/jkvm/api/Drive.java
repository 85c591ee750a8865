package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Firecracker's {@code PUT /drives/{drive_id}} body: a block device backed by a host file.
 * Accepted, validated and kept in the VM configuration; the virtio-blk device that serves it is
 * attached at the device seam ({@link GuestDevices}). {@code rate_limiter} is parsed and checked strictly ({@link RateLimiter})
 * and enforced by the virtio-blk device.
 */
public record Drive(
        @JsonProperty("drive_id") String driveId,
        @JsonProperty("path_on_host") String pathOnHost,
        @JsonProperty("is_root_device") Boolean isRootDevice,
        @JsonProperty("is_read_only") Boolean isReadOnly,
        @JsonProperty("partuuid") String partuuid,
        @JsonProperty("cache_type") String cacheType,
        @JsonProperty("io_engine") String ioEngine,
        @JsonProperty("rate_limiter") RateLimiter rateLimiter,
        @JsonProperty("socket") String socket) {

    public boolean readOnly() {
        return Boolean.TRUE.equals(isReadOnly);
    }

    public boolean root() {
        return Boolean.TRUE.equals(isRootDevice);
    }
}
