package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Firecracker's {@code PUT /drives/{drive_id}} body: a block device backed by a host file.
 * Accepted, validated and kept in the VM configuration; the virtio-blk device that serves it is
 * attached at the device seam ({@link GuestDevices}). {@code rate_limiter} is parsed and checked strictly ({@link RateLimiter})
 * and enforced by the virtio-blk device.
 *
 * <p>jkvm extension: {@code format}, the image format, {@code "raw"} (the default, as in
 * Firecracker) or {@code "qcow2"}. Firecracker's drive schema has no field of that name. The
 * format is never probed from the file (see {@link io.jkvm.storage.DiskFormat}); a qcow2 image's
 * backing files must lie in its own directory.
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
        @JsonProperty("socket") String socket,
        @JsonProperty("format") String format) {

    /** A drive without the {@code format} extension (raw). */
    public Drive(String driveId, String pathOnHost, Boolean isRootDevice, Boolean isReadOnly, String partuuid,
            String cacheType, String ioEngine, RateLimiter rateLimiter, String socket) {
        this(driveId, pathOnHost, isRootDevice, isReadOnly, partuuid, cacheType, ioEngine, rateLimiter, socket, null);
    }

    /** The image format ({@code format}, raw when absent); call after {@link VmConfiguration} checked it. */
    public io.jkvm.storage.DiskFormat diskFormat() {
        return format == null ? io.jkvm.storage.DiskFormat.RAW : io.jkvm.storage.DiskFormat.parse("field 'format'", format);
    }

    public boolean readOnly() {
        return Boolean.TRUE.equals(isReadOnly);
    }

    public boolean root() {
        return Boolean.TRUE.equals(isRootDevice);
    }
}
