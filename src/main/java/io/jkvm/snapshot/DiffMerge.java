package io.jkvm.snapshot;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Merges a Diff snapshot's memory file onto its base memory file, in place, as Firecracker's
 * users do before loading a Diff: the state file (authenticated first) says which pages the diff
 * holds and what they must hash to, so a modified or foreign diff is refused before the base is
 * touched. Whether the base was the right one shows when the Diff is loaded: the merged file must
 * match the HMAC of all RAM the state file recorded.
 */
public final class DiffMerge {
    private DiffMerge() {}

    /** What was merged. */
    public record Result(long pages, long bytesCopied) {}

    public static Result merge(Path stateFile, Path base, Path diff, SnapshotKey key) throws IOException {
        if (base.toAbsolutePath().normalize().equals(diff.toAbsolutePath().normalize())) {
            throw new SnapshotException(base, "base and diff must be different files");
        }
        long size = Files.size(stateFile);
        if (size > SnapshotFile.MAX_SIZE) {
            throw new SnapshotException(stateFile, "state file is " + size + " bytes, over the " + SnapshotFile.MAX_SIZE
                    + "-byte limit (not a jkvm state file?)");
        }
        SnapshotFile.Parsed p = SnapshotFile.read(stateFile, Files.readAllBytes(stateFile), key);
        DirtyRuns runs = Snapshots.diffRuns(stateFile, p.header(), p.protection());
        if (runs == null) {
            throw new SnapshotException(stateFile, "not a Diff snapshot: its memory file loads as it is, nothing to merge");
        }
        DiffFile.verify(diff, stateFile, p.header().diff(), runs, key);
        long copied = DiffFile.copyRuns(diff, base, runs);
        return new Result(runs.totalPages(), copied);
    }
}
