package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Firecracker's {@code PUT /snapshot/load} body: {@code snapshot_path}, the memory as
 * {@code mem_backend} or the older {@code mem_file_path} (exactly one), and the flags
 * {@code enable_diff_snapshots}, {@code resume_vm}, and {@code vsock_override} (the restored vsock
 * device's host socket).
 */
public record SnapshotLoadParams(
        @JsonProperty("snapshot_path") String snapshotPath,
        @JsonProperty("mem_backend") MemoryBackend memBackend,
        @JsonProperty("mem_file_path") String memFilePath,
        @JsonProperty("enable_diff_snapshots") Boolean enableDiffSnapshots,
        @JsonProperty("resume_vm") Boolean resumeVm,
        @JsonProperty("vsock_override") VsockOverride vsockOverride) {
    /** Without a vsock override. */
    public SnapshotLoadParams(String snapshotPath, MemoryBackend memBackend, String memFilePath, Boolean enableDiffSnapshots,
            Boolean resumeVm) {
        this(snapshotPath, memBackend, memFilePath, enableDiffSnapshots, resumeVm, null);
    }
}
