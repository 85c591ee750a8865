package io.jkvm.cli;

import io.jkvm.snapshot.DiffMerge;
import io.jkvm.snapshot.SnapshotException;
import io.jkvm.snapshot.SnapshotKey;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code jkvm snapshot ...}: work on snapshot files offline. */
@Command(name = "snapshot", mixinStandardHelpOptions = true, description = "Work on snapshot files.",
        subcommands = {SnapshotCommand.Merge.class})
public final class SnapshotCommand implements Runnable {
    @picocli.CommandLine.Spec picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** {@code jkvm snapshot merge}: a Diff's memory file onto its base, as Firecracker users do. */
    @Command(name = "merge", mixinStandardHelpOptions = true, description = {
        "Merge a Diff snapshot's memory file onto its base memory file, in place.",
        "The base is the memory file of the previous snapshot (a Full one, or the previous Diff already merged).",
        "The Diff's state file says which pages the diff holds and authenticates them: a modified diff is refused",
        "before the base is touched. Load the Diff's state file with the merged base as its memory file."})
    static final class Merge implements Callable<Integer> {
        @Option(names = "--base", paramLabel = "MEM", required = true,
                description = "The base memory file (changed in place).")
        Path base;

        @Option(names = "--diff", paramLabel = "DIFFMEM", required = true,
                description = "The Diff snapshot's memory file (mem_file_path of snapshot/create).")
        Path diff;

        @Option(names = "--snapshot", paramLabel = "STATE", required = true,
                description = "The Diff snapshot's state file (snapshot_path of snapshot/create).")
        Path state;

        @Option(names = "--snapshot-key", paramLabel = "FILE", required = true,
                description = "The key the snapshot was made with (the VMM's --snapshot-key).")
        Path keyFile;

        @Override
        public Integer call() throws IOException {
            requireFile("--base", base);
            requireFile("--diff", diff);
            requireFile("--snapshot", state);
            requireFile("--snapshot-key", keyFile);
            SnapshotKey key;
            try {
                key = SnapshotKey.fromFile(keyFile);
            } catch (SnapshotException e) {
                throw new UserError("--snapshot-key: " + e.getMessage());
            }
            DiffMerge.Result r = DiffMerge.merge(state, base, diff, key);
            System.err.printf("jkvm: merged %d pages (%d bytes) of %s onto %s%n", r.pages(), r.bytesCopied(), diff, base);
            return 0;
        }

        private static void requireFile(String option, Path p) {
            if (!Files.isRegularFile(p)) {
                throw new UserError(option + " " + p + ": no such file");
            }
        }
    }
}
