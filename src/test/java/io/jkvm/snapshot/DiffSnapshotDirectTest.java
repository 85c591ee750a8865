package io.jkvm.snapshot;

import io.jkvm.testing.Patience;
import io.jkvm.cli.Cli;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.TestGuest;
import io.jkvm.vmm.Machine;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Direct-KVM Diff snapshots (Firecracker's snapshot_type "Diff"): a tracked counter guest is
 * saved Full, runs on, is saved as a Diff; the diff merged onto a copy of the base restores to
 * exactly the RAM at the Diff's pause and the guest continues. Tampered diffs and wrong bases
 * are refused.
 */
@Tag("kvm")
class DiffSnapshotDirectTest {
    private static final long WAIT = Patience.seconds(60).toNanos();
    private static final SnapshotKey KEY = SnapshotKey.of(new byte[32]);

    @TempDir
    Path dir;

    @BeforeEach
    void kvm() {
        KvmAvailable.assume();
    }

    @Test
    void aDiffMergedOntoItsBaseRestoresTheGuestAtTheDiff() throws Exception {
        Path baseState = dir.resolve("base.state"), baseMem = dir.resolve("base.mem");
        Path diffState = dir.resolve("diff.state"), diffMem = dir.resolve("diff.mem");
        String checksum;
        int counter;
        try (Machine m = Machine.create(new Machine.Options(1, CounterGuest.RAM, true, io.jkvm.memory.RamBacking.PAGES))) {
            CounterGuest.Progress progress = new CounterGuest.Progress();
            m.pio().register(CounterGuest.PORT, 4, progress);
            m.vcpus().getFirst().setCpuid(m.kvm().supportedCpuid());
            TestGuest.startProtectedMode(m.vcpus().getFirst(), m.memory(), CounterGuest.code(), CounterGuest.ORIGIN);
            assertThatThrownBy(() -> Snapshots.saveDiff(m, List.of(), diffState, diffMem, KEY))
                    .hasMessageContaining("track_dirty_pages");
            m.trackDirtyPages();
            m.start();
            assertThat(progress.awaitAtLeast(2, WAIT)).as("guest reports progress").isTrue();
            m.pause();
            assertThatThrownBy(() -> Snapshots.saveDiff(m, List.of(), diffState, diffMem, KEY))
                    .hasMessageContaining("take a Full snapshot");
            Snapshots.save(m, List.of(), baseState, baseMem, KEY);
            int atBase = m.memory().readInt(CounterGuest.COUNTER);

            m.resume();
            assertThat(progress.awaitAtLeast(atBase + 3, WAIT)).as("guest runs on after the Full").isTrue();
            m.pause();
            counter = m.memory().readInt(CounterGuest.COUNTER);
            checksum = CounterGuest.checksum(m.memory());
            Snapshots.SaveResult r = Snapshots.saveDiff(m, List.of(), diffState, diffMem, KEY);
            assertThat(r.memoryFileBytes()).isEqualTo(CounterGuest.RAM);
            assertThat(CounterGuest.checksum(m.memory())).isEqualTo(checksum);
        }

        assertThat(Files.size(diffMem)).as("the diff is the full guest size").isEqualTo(CounterGuest.RAM);
        long allocated = allocatedBytes(diffMem);
        System.out.printf("diff snapshot: %d of %d bytes allocated%n", allocated, CounterGuest.RAM);
        assertThat(allocated).as("the diff is sparse (holds the dirty pages only)").isLessThan(CounterGuest.RAM / 8);

        // The unmerged diff is not a memory file.
        assertThatThrownBy(() -> Snapshots.load(diffState, diffMem, KEY))
                .isInstanceOf(SnapshotException.class).hasMessageContaining("merged onto the wrong base?");

        Path merged = copy(baseMem, "merged.mem");
        StringWriter err = new StringWriter();
        assertThat(cli(err, "snapshot", "merge", "--base", merged.toString(), "--diff", diffMem.toString(),
                "--snapshot", diffState.toString(), "--snapshot-key", keyFile().toString())).as(err.toString()).isZero();

        Snapshots.Restored restored = Snapshots.restore(diffState, merged, KEY);
        try (Machine m = restored.machine()) {
            assertThat(CounterGuest.checksum(m.memory())).as("RAM at the Diff's pause").isEqualTo(checksum);
            CounterGuest.Progress progress = new CounterGuest.Progress();
            m.pio().register(CounterGuest.PORT, 4, progress);
            m.start();
            assertThat(progress.awaitAtLeast(counter + 2, WAIT)).as("counter continues").isTrue();
            assertThat(progress.first.get()).isEqualTo(counter + 1);
        }
    }

    @Test
    void aTamperedDiffIsRefusedBeforeTheBaseIsTouchedAndAWrongBaseAtLoad() throws Exception {
        Path baseState = dir.resolve("base.state"), baseMem = dir.resolve("base.mem");
        Path diffState = dir.resolve("diff.state"), diffMem = dir.resolve("diff.mem");
        try (Machine m = Machine.create(new Machine.Options(1, CounterGuest.RAM, true, io.jkvm.memory.RamBacking.PAGES))) {
            CounterGuest.Progress progress = new CounterGuest.Progress();
            m.pio().register(CounterGuest.PORT, 4, progress);
            m.vcpus().getFirst().setCpuid(m.kvm().supportedCpuid());
            TestGuest.startProtectedMode(m.vcpus().getFirst(), m.memory(), CounterGuest.code(), CounterGuest.ORIGIN);
            m.trackDirtyPages();
            m.start();
            assertThat(progress.awaitAtLeast(2, WAIT)).isTrue();
            m.pause();
            Snapshots.save(m, List.of(), baseState, baseMem, KEY);
            int atBase = m.memory().readInt(CounterGuest.COUNTER);
            m.resume();
            assertThat(progress.awaitAtLeast(atBase + 2, WAIT)).isTrue();
            m.pause();
            Snapshots.saveDiff(m, List.of(), diffState, diffMem, KEY);
        }

        // A flipped byte in a page the diff holds (the counter guest's buffer).
        Path tampered = copy(diffMem, "tampered.mem");
        flip(tampered, CounterGuest.BUFFER + 100);
        Path base = copy(baseMem, "base-copy.mem");
        byte[] before = Files.readAllBytes(base);
        assertThatThrownBy(() -> DiffMerge.merge(diffState, base, tampered, KEY))
                .isInstanceOf(SnapshotException.class).hasMessageContaining("diff file does not match");
        StringWriter err = new StringWriter();
        assertThat(cli(err, "snapshot", "merge", "--base", base.toString(), "--diff", tampered.toString(),
                "--snapshot", diffState.toString(), "--snapshot-key", keyFile().toString())).isEqualTo(Cli.EXIT_FAILURE);
        assertThat(err.toString()).contains("jkvm: ").contains(tampered.toString()).contains("diff file does not match");
        assertThat(Files.readAllBytes(base)).as("the base is untouched").isEqualTo(before);

        // A Full state file has nothing to merge.
        assertThatThrownBy(() -> DiffMerge.merge(baseState, base, diffMem, KEY))
                .hasMessageContaining("not a Diff snapshot");

        // A different base: one byte differs in a page the diff does not hold.
        Path other = copy(baseMem, "other-base.mem");
        flip(other, 3L << 20);
        DiffMerge.Result res = DiffMerge.merge(diffState, other, diffMem, KEY);
        assertThat(res.pages()).isPositive().isLessThan(CounterGuest.RAM / 4096 / 8);
        assertThat(res.bytesCopied()).isEqualTo(res.pages() * 4096);
        assertThatThrownBy(() -> Snapshots.load(diffState, other, KEY))
                .isInstanceOf(SnapshotException.class)
                .hasMessageContaining("memory file does not match")
                .hasMessageContaining("merged onto the wrong base?");
    }

    @Test
    void aMigrationTrackerTakingOverTheLogCostsTheBaselineNotTheTracking() throws Exception {
        Path st = dir.resolve("s"), mm = dir.resolve("m");
        try (Machine m = Machine.create(new Machine.Options(1, CounterGuest.RAM, true, io.jkvm.memory.RamBacking.PAGES))) {
            CounterGuest.Progress progress = new CounterGuest.Progress();
            m.pio().register(CounterGuest.PORT, 4, progress);
            m.vcpus().getFirst().setCpuid(m.kvm().supportedCpuid());
            TestGuest.startProtectedMode(m.vcpus().getFirst(), m.memory(), CounterGuest.code(), CounterGuest.ORIGIN);
            m.trackDirtyPages();
            m.start();
            assertThat(progress.awaitAtLeast(2, WAIT)).isTrue();
            m.pause();
            Snapshots.save(m, List.of(), st, mm, KEY);
            assertThat(m.dirtyTracker().hasBaseline()).isTrue();
            m.resume();
            // What OutgoingMigration does: its own tracker, which collects (and so steals) KVM's log.
            try (io.jkvm.vmm.DirtyTracker migration = new io.jkvm.vmm.DirtyTracker(m)) {
                migration.start();
                assertThat(progress.awaitAtLeast(progress.last.get() + 2, WAIT)).isTrue();
                assertThat(migration.collect()).isNotEmpty();
            }
            m.pause();
            assertThat(m.dirtyTracker().hasBaseline()).isFalse();
            assertThatThrownBy(() -> Snapshots.saveDiff(m, List.of(), st, mm, KEY)).hasMessageContaining("take a Full snapshot");
            Snapshots.save(m, List.of(), st, mm, KEY);
            m.resume();
            assertThat(progress.awaitAtLeast(progress.last.get() + 2, WAIT)).isTrue();
            m.pause();
            String sum = CounterGuest.checksum(m.memory());
            Path base = copy(mm, "base.mem");
            Snapshots.saveDiff(m, List.of(), st, mm, KEY);
            DiffMerge.merge(st, base, mm, KEY);
            try (Machine r = Snapshots.restore(st, base, KEY).machine()) {
                assertThat(CounterGuest.checksum(r.memory())).as("dirty logging still on after the migration tracker").isEqualTo(sum);
            }
        }
    }

    private static int cli(StringWriter err, String... args) {
        CommandLine cl = Cli.commandLine();
        cl.setErr(new PrintWriter(err, true));
        return cl.execute(args);
    }

    private Path keyFile() throws IOException {
        Path k = dir.resolve("key");
        if (!Files.exists(k)) {
            Files.write(k, new byte[32]); // the material of KEY
            Files.setPosixFilePermissions(k, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        }
        return k;
    }

    private Path copy(Path from, String name) throws IOException {
        Path to = dir.resolve(name);
        Files.copy(from, to, StandardCopyOption.COPY_ATTRIBUTES);
        Files.setPosixFilePermissions(to, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        return to;
    }

    private static void flip(Path file, long offset) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(1);
            ch.read(b, offset);
            b.flip();
            b.put(0, (byte) (b.get(0) ^ 0x40));
            ch.write(b, offset);
        }
    }

    /** st_blocks * 512, as du counts it (the "unix" attribute view has no block count). */
    static long allocatedBytes(Path file) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("stat", "-c", "%b %B", file.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes()).trim();
        assertThat(p.waitFor()).as(out).isZero();
        String[] f = out.split(" ");
        return Long.parseLong(f[0]) * Long.parseLong(f[1]);
    }
}
