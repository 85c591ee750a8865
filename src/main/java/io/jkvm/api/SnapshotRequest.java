package io.jkvm.api;

import io.jkvm.snapshot.Protection;
import io.jkvm.snapshot.SnapshotKey;

import java.nio.file.Path;
import java.util.Objects;

/** A validated snapshot file pair, key and protection, as the API hands it to the VMM. */
public record SnapshotRequest(Path stateFile, Path memFile, SnapshotKey key, Protection protection) {
    public SnapshotRequest {
        Objects.requireNonNull(stateFile, "stateFile");
        Objects.requireNonNull(memFile, "memFile");
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(protection, "protection");
    }
}
