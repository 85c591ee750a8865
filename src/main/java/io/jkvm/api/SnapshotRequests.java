package io.jkvm.api;

import io.jkvm.snapshot.Protection;
import io.jkvm.snapshot.SnapshotKey;

import java.nio.file.Path;

/**
 * {@code PUT /snapshot/create} and {@code /snapshot/load} bodies checked field by field and turned
 * into a {@link SnapshotRequest}. As in Firecracker, a Diff needs {@code track_dirty_pages} (or a
 * load with {@code enable_diff_snapshots}) and holds only the pages dirtied since the previous
 * snapshot; snapshots are authenticated under the VMM's {@code --snapshot-key}.
 */
final class SnapshotRequests {
    private SnapshotRequests() {}

    /** Whether the create request asks for a Diff (after checking snapshot_type). */
    static String type(SnapshotCreateParams p) {
        String type = p.snapshotType() == null ? "Full" : p.snapshotType();
        Fields.checkOneOf("snapshot_type", type, "Full", "Diff");
        return type;
    }

    /**
     * The create request for a started VM with {@code machine}; {@code paused} is checked after
     * the fields, so a client learns about a bad field first.
     */
    static SnapshotRequest create(SnapshotCreateParams p, MachineConfiguration machine, boolean paused, SnapshotKey key) {
        boolean diff = type(p).equals("Diff");
        if (diff && !Boolean.TRUE.equals(machine.trackDirtyPages())) {
            throw ApiException.badField("snapshot_type", "snapshot_type 'Diff' needs dirty page tracking: set"
                    + " track_dirty_pages in /machine-config before InstanceStart (or enable_diff_snapshots on /snapshot/load)");
        }
        if (diff && Boolean.TRUE.equals(p.encrypt())) {
            throw ApiException.badField("encrypt", "encrypt: Diff snapshots are written in clear (HMAC-SHA256) only; use a"
                    + " Full snapshot to encrypt");
        }
        if (p.snapshotPath() == null || p.snapshotPath().isBlank()) {
            throw Fields.missing("snapshot_path");
        }
        if (p.memFilePath() == null || p.memFilePath().isBlank()) {
            throw Fields.missing("mem_file_path");
        }
        Path statePath = HostPaths.writable("snapshot_path", p.snapshotPath());
        Path memPath = HostPaths.writable("mem_file_path", p.memFilePath());
        if (statePath.normalize().equals(memPath.normalize())) {
            throw ApiException.badField("mem_file_path", "snapshot_path and mem_file_path must be different files");
        }
        if (!paused) {
            throw ApiException.notAllowed("the microVM must be paused (PATCH /vm {\"state\": \"Paused\"}) before creating"
                    + " a snapshot");
        }
        Protection protection = Boolean.TRUE.equals(p.encrypt()) ? Protection.AES_256_GCM : Protection.HMAC_SHA256;
        return new SnapshotRequest(statePath, memPath, requireKey(key), protection, diff, false);
    }

    /** The load request: the state file and the memory as mem_backend or the older mem_file_path. */
    static SnapshotRequest load(SnapshotLoadParams p, SnapshotKey key) {
        if (p.snapshotPath() == null || p.snapshotPath().isBlank()) {
            throw Fields.missing("snapshot_path");
        }
        String mem;
        if (p.memBackend() != null && p.memFilePath() != null) {
            throw ApiException.badField("mem_backend", "give either mem_backend or mem_file_path, not both");
        } else if (p.memBackend() != null) {
            MemoryBackend b = p.memBackend();
            if (b.backendType() == null) {
                throw Fields.missing("mem_backend.backend_type");
            }
            if (b.backendType().equals("Uffd")) {
                throw ApiException.badField("mem_backend.backend_type",
                        "mem_backend.backend_type 'Uffd' is not supported (use File)");
            }
            Fields.checkOneOf("mem_backend.backend_type", b.backendType(), "File", "Uffd");
            if (b.backendPath() == null || b.backendPath().isBlank()) {
                throw Fields.missing("mem_backend.backend_path");
            }
            mem = b.backendPath();
            HostPaths.checkReadableFile("mem_backend.backend_path", mem);
        } else if (p.memFilePath() != null) {
            mem = p.memFilePath();
            HostPaths.checkReadableFile("mem_file_path", mem);
        } else {
            throw ApiException.badField("mem_backend", "missing field 'mem_backend' (or the older 'mem_file_path')");
        }
        HostPaths.checkReadableFile("snapshot_path", p.snapshotPath());
        // enable_diff_snapshots: Firecracker's older name for track_dirty_pages on a restored VM.
        boolean track = Boolean.TRUE.equals(p.enableDiffSnapshots());
        Path vsockUds = null;
        if (p.vsockOverride() != null) {
            if (p.vsockOverride().udsPath() == null || p.vsockOverride().udsPath().isBlank()) {
                throw Fields.missing("vsock_override.uds_path");
            }
            vsockUds = HostPaths.writable("vsock_override.uds_path", p.vsockOverride().udsPath());
        }
        return new SnapshotRequest(HostPaths.usable("snapshot_path", p.snapshotPath()), HostPaths.usable("mem_file_path", mem), requireKey(key), Protection.HMAC_SHA256,
                false, track, vsockUds);
    }

    private static SnapshotKey requireKey(SnapshotKey k) {
        if (k == null) {
            throw ApiException.notAllowed("no snapshot key: start the VMM with --snapshot-key FILE (32+ secret bytes,"
                    + " mode 0600)");
        }
        return k;
    }
}
