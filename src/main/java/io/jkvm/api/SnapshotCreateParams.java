package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Firecracker's {@code PUT /snapshot/create} body: {@code snapshot_type} "Full" (default) or
 * "Diff", {@code snapshot_path} (the state file), {@code mem_file_path}, the optional
 * {@code version} (accepted, ignored: jkvm's format is versioned by itself) and jkvm's
 * extension {@code encrypt} (AES-256-GCM instead of HMAC-only).
 */
public record SnapshotCreateParams(
        @JsonProperty("snapshot_type") String snapshotType,
        @JsonProperty("snapshot_path") String snapshotPath,
        @JsonProperty("mem_file_path") String memFilePath,
        @JsonProperty("version") String version,
        @JsonProperty("encrypt") Boolean encrypt) {}
