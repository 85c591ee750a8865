package io.jkvm.daemon;

import com.fasterxml.jackson.annotation.JsonProperty;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;

/** Body of {@code POST /vms/N/snapshot|restore}: the snapshot directory (absolute) and, for snapshot, encryption. */
record SnapshotDirRequest(@JsonProperty("dir") String dir, @JsonProperty("encrypt") Boolean encrypt) {
    static final String STATE_FILE = "vm.state";
    static final String MEMORY_FILE = "vm.mem";

    Path path() {
        if (dir == null || dir.isBlank()) {
            throw DaemonException.badRequest("missing field 'dir'");
        }
        Path p;
        try {
            p = Path.of(dir);
        } catch (InvalidPathException e) {
            throw DaemonException.badRequest("dir: not a usable path: " + e.getMessage());
        }
        if (!p.isAbsolute()) {
            throw DaemonException.badRequest("dir " + dir + ": must be an absolute path");
        }
        return p.normalize();
    }
}
