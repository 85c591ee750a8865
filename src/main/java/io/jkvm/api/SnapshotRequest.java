package io.jkvm.api;

import io.jkvm.snapshot.Protection;
import io.jkvm.snapshot.SnapshotKey;

import java.nio.file.Path;
import java.util.Objects;

/**
 * A validated snapshot file pair, key and protection, as the API hands it to the VMM.
 *
 * @param diff for snapshot/create: Firecracker's snapshot_type "Diff" (clear only)
 * @param trackDirtyPages for snapshot/load: Firecracker's enable_diff_snapshots (dirty tracking
 *        on in the restored VM, so Diffs against this snapshot can be taken)
 * @param vsockUdsPath for snapshot/load: Firecracker's vsock_override.uds_path (absolute), or null
 */
public record SnapshotRequest(Path stateFile, Path memFile, SnapshotKey key, Protection protection, boolean diff,
        boolean trackDirtyPages, Path vsockUdsPath) {
    public SnapshotRequest {
        Objects.requireNonNull(stateFile, "stateFile");
        Objects.requireNonNull(memFile, "memFile");
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(protection, "protection");
        if (diff && protection != Protection.HMAC_SHA256) {
            throw new IllegalArgumentException("Diff snapshots are clear (HMAC-SHA256) only");
        }
    }

    /** Without a vsock override. */
    public SnapshotRequest(Path stateFile, Path memFile, SnapshotKey key, Protection protection, boolean diff,
            boolean trackDirtyPages) {
        this(stateFile, memFile, key, protection, diff, trackDirtyPages, null);
    }

    /** A Full snapshot request, or a load without dirty tracking. */
    public SnapshotRequest(Path stateFile, Path memFile, SnapshotKey key, Protection protection) {
        this(stateFile, memFile, key, protection, false, false);
    }
}
