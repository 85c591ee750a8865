package io.jkvm.snapshot;

import io.jkvm.memory.GuestRam;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The Diff parts of the state header without KVM: files from before Diffs (no kind) still load,
 * headers a key holder forged are refused naming the problem, and a Diff written from plain
 * guest RAM merges onto its base into a loadable memory file.
 */
class DiffHeaderTest {
    private static final SnapshotKey KEY = SnapshotFixtures.KEY;
    private static final VmState STATE = SnapshotFixtures.state(1, true);

    @TempDir
    Path dir;

    private final Path state = Path.of("s"), mem = Path.of("m");

    /** {@code name} in the temp dir. */
    private Path p(Path name) {
        return dir.resolve(name);
    }

    /** Re-signs the state file with {@code edit} applied to its header, as a key holder could. */
    private void forge(Path stateFile, java.util.function.UnaryOperator<SnapshotHeader> edit) throws IOException {
        SnapshotFile.Parsed parsed = SnapshotFile.read(stateFile, Files.readAllBytes(stateFile), KEY);
        Files.write(stateFile, SnapshotFile.write(edit.apply(parsed.header()), parsed.protection(), parsed.payload(), KEY));
    }

    private static SnapshotHeader with(SnapshotHeader h, String kind, SnapshotHeader.Diff diff) {
        return new SnapshotHeader(h.format(), h.snapshotId(), h.createdAt(), kind, h.config(), h.memory(), diff,
                h.sections(), h.payloadNonce());
    }

    @Test
    void aFullStateFileWithoutAKindStillLoads() throws IOException {
        SnapshotFixtures.write(STATE, 1, p(state), p(mem), KEY, Protection.HMAC_SHA256, List.of());
        forge(p(state), h -> with(h, null, null));
        String json = new String(Files.readAllBytes(p(state)), StandardCharsets.ISO_8859_1);
        assertThat(json).doesNotContain("\"kind\"");
        assertThat(Snapshots.load(p(state), p(mem), KEY).state()).isNotNull();
    }

    @Test
    void forgedDiffHeadersAreRefusedNamingTheProblem() throws IOException {
        SnapshotFixtures.write(STATE, 1, p(state), p(mem), KEY, Protection.HMAC_SHA256, List.of());
        byte[] original = Files.readAllBytes(p(state));
        long ram = STATE.config().memoryBytes();
        String mac = "00".repeat(32);
        record Case(java.util.function.UnaryOperator<SnapshotHeader> edit, String message) {}
        List<Case> cases = List.of(
                new Case(h -> with(h, "weird", null), "unknown snapshot kind 'weird'"),
                new Case(h -> with(h, "diff", null), "without its diff record"),
                new Case(h -> with(h, "full", new SnapshotHeader.Diff(ram, mac, List.of())), "a full snapshot with a diff record"),
                new Case(h -> with(h, "diff", new SnapshotHeader.Diff(ram, mac, List.of(
                        new SnapshotHeader.PageRun(0x2000, 1), new SnapshotHeader.PageRun(0x1000, 1)))), "out of order"),
                new Case(h -> with(h, "diff", new SnapshotHeader.Diff(ram, mac, List.of(
                        new SnapshotHeader.PageRun(0x1001, 1)))), "not page-aligned"),
                new Case(h -> with(h, "diff", new SnapshotHeader.Diff(ram, mac, List.of(
                        new SnapshotHeader.PageRun(ram - 4096, 2)))), "not inside one guest RAM region"),
                new Case(h -> with(h, "diff", new SnapshotHeader.Diff(ram + 4096, mac, List.of())), "diff length"));
        for (Case c : cases) {
            Files.write(p(state), original);
            forge(p(state), c.edit());
            assertThatThrownBy(() -> Snapshots.load(p(state), p(mem), KEY)).as(c.message())
                    .isInstanceOf(SnapshotException.class).hasMessageContaining(c.message())
                    .hasMessageContaining(p(state).toString());
        }
    }

    @Test
    void aDiffFromPlainRamMergesOntoItsBaseIntoALoadableFile() throws IOException {
        Path base = p(Path.of("base.mem")), baseState = p(Path.of("base.state"));
        Path diff = p(Path.of("diff.mem")), diffState = p(Path.of("diff.state"));
        String want;
        try (GuestRam ram = GuestRam.allocate(STATE.config().memoryBytes(), io.jkvm.memory.RamBacking.PAGES)) {
            SnapshotFixtures.fill(ram, 5);
            Snapshots.write(STATE, ram.memory(), List.of(), baseState, base, KEY, Protection.HMAC_SHA256, System.nanoTime());
            long[] dirty = {0x3000, 0x4000, 0x10000};
            for (long gpa : dirty) {
                ram.memory().writeLong(gpa + 8, ~gpa);
            }
            Snapshots.write(STATE, ram.memory(), List.of(), diffState, diff, KEY, Protection.HMAC_SHA256,
                    System.nanoTime(), DirtyRuns.of(STATE.config().memoryBytes(), dirty));
            want = CounterGuest.checksum(ram.memory());
            assertThatThrownBy(() -> Snapshots.write(STATE, ram.memory(), List.of(), diffState, diff, KEY,
                    Protection.AES_256_GCM, System.nanoTime(), DirtyRuns.of(STATE.config().memoryBytes(), dirty)))
                    .hasMessageContaining("clear (HMAC-SHA256) only");
        }
        Path merged = p(Path.of("merged.mem"));
        Files.copy(base, merged, StandardCopyOption.COPY_ATTRIBUTES);
        assertThat(DiffMerge.merge(diffState, merged, diff, KEY)).isEqualTo(new DiffMerge.Result(3, 3 * 4096));
        Snapshots.Loaded l = Snapshots.load(diffState, merged, KEY);
        try (GuestRam loaded = MemoryFile.map(merged, l.config())) {
            assertThat(CounterGuest.checksum(loaded.memory())).isEqualTo(want);
        }
        // Merging the same diff twice is harmless (idempotent), onto the diff itself refused.
        DiffMerge.merge(diffState, merged, diff, KEY);
        Snapshots.load(diffState, merged, KEY);
        assertThatThrownBy(() -> DiffMerge.merge(diffState, diff, diff, KEY)).hasMessageContaining("different files");
    }
}
