package io.jkvm.storage;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@link Qcow2Checker} gives qemu-img check's verdict (exit status) on images damaged in known ways. */
class Qcow2CheckerTest {
    @TempDir
    Path dir;

    @BeforeEach
    void needsQemuImg() {
        assumeTrue(QemuImg.available(), "qemu-img is not installed");
    }

    /** A qemu-made image with data in the first two guest clusters (so one L2 table and two data clusters). */
    private Path image(String name, String cluster) throws IOException {
        Path p = dir.resolve(name);
        QemuImg.img("create", "-f", "qcow2", "-o", "cluster_size=" + cluster, p.toString(), "4M");
        QemuImg.io(p, "qcow2", "write -P 0x11 0 128k", "write -P 0x22 2M 4k", "write -c -P 0x33 3M 64k");
        return p;
    }

    private record Layout(long cluster, long l1, long l2, long data, long refblock, long rt) {}

    private static Layout layout(Path p) throws IOException {
        try (LockedFile f = LockedFile.open(p, true); RandomAccessFile raf = new RandomAccessFile(p.toFile(), "r")) {
            Qcow2Header h = Qcow2Header.read(f, false);
            raf.seek(h.l1Offset());
            long l2 = raf.readLong() & Qcow2Image.OFFSET_MASK;
            raf.seek(l2);
            long data = raf.readLong() & Qcow2Image.OFFSET_MASK;
            raf.seek(h.refcountTableOffset());
            long block = raf.readLong();
            return new Layout(h.clusterSize(), h.l1Offset(), l2, data, block, h.refcountTableOffset());
        }
    }

    private static void putLong(Path p, long at, long v) throws IOException {
        try (RandomAccessFile raf = new RandomAccessFile(p.toFile(), "rw")) {
            raf.seek(at);
            raf.writeLong(v);
        }
    }

    private static void putShort(Path p, long at, int v) throws IOException {
        try (RandomAccessFile raf = new RandomAccessFile(p.toFile(), "rw")) {
            raf.seek(at);
            raf.writeShort(v);
        }
    }

    /** Ours and qemu's exit status agree, and are {@code expected}. */
    private static Qcow2Checker.Report agrees(Path p, int expected) throws IOException {
        QemuImg.Result qemu = QemuImg.check(p);
        Qcow2Checker.Report ours = Qcow2Checker.check(p);
        assertThat(qemu.exit()).as("qemu-img check: " + qemu.output()).isEqualTo(expected);
        assertThat(ours.exitCode()).as("ours: " + ours + "\nqemu: " + qemu.output()).isEqualTo(expected);
        return ours;
    }

    @Test
    void cleanImagesAreClean() throws IOException {
        agrees(image("a.qcow2", "65536"), 0);
        agrees(image("b.qcow2", "512"), 0);
        Path ours = dir.resolve("c.qcow2");
        ImageCreator.create(new ImageCreator.Request(ours, DiskFormat.QCOW2, 1 << 30, null, null, 4096, false));
        assertThat(agrees(ours, 0).lines()).containsExactly("No errors were found on the image.");
    }

    @Test
    void aBumpedRefcountIsALeak() throws IOException {
        Path p = image("leak.qcow2", "65536");
        Layout l = layout(p);
        putShort(p, l.refblock() + 2 * (l.data() / l.cluster()), 2); // data cluster: refcount 2, one reference
        // COPIED is now set on a cluster of refcount 2: qemu calls that an error too; clear it as qemu would have.
        putLong(p, l.l2(), l.data());
        Qcow2Checker.Report r = agrees(p, 3);
        assertThat(r.leaks()).isEqualTo(1);
        assertThat(r.lines().getFirst()).startsWith("leaked cluster " + l.data() / l.cluster());
    }

    @Test
    void anUnreferencedClusterWithARefcountIsALeak() throws IOException {
        Path p = image("leak2.qcow2", "4096");
        Layout l = layout(p);
        long c = Math.ceilDiv(Files.size(p), l.cluster()); // the last cluster may be partly compressed data
        try (RandomAccessFile raf = new RandomAccessFile(p.toFile(), "rw")) {
            raf.setLength((c + 1) * l.cluster());
        }
        putShort(p, l.refblock() + 2 * c, 1);
        agrees(p, 3);
    }

    @Test
    void aZeroedRefcountOfAUsedClusterIsACorruption() throws IOException {
        Path p = image("zero.qcow2", "65536");
        Layout l = layout(p);
        putShort(p, l.refblock() + 2 * (l.data() / l.cluster()), 0);
        agrees(p, 2);
    }

    @Test
    void anL2EntryIntoTheL1TableIsACorruption() throws IOException {
        Path p = image("meta.qcow2", "65536");
        Layout l = layout(p);
        putLong(p, l.l2(), l.l1() | Qcow2Image.COPIED);
        Qcow2Checker.Report r = agrees(p, 2);
        assertThat(String.join("\n", r.lines())).contains("already the L1 table: a guest write would overwrite metadata");
    }

    @Test
    void anUnalignedOrOutsideL2EntryIsACorruption() throws IOException {
        Path p = image("flip.qcow2", "65536");
        Layout l = layout(p);
        putLong(p, l.l2(), (l.data() + 512) | Qcow2Image.COPIED);
        assertThat(String.join("\n", agrees(p, 2).lines())).contains("not cluster-aligned");
        Path q = image("far.qcow2", "65536");
        Layout m = layout(q);
        putLong(q, m.l2() + 8, (1L << 40) | Qcow2Image.COPIED);
        assertThat(String.join("\n", agrees(q, 2).lines())).contains("outside the file");
    }

    @Test
    void aBadRefcountTableEntryIsACorruption() throws IOException {
        Path p = image("rt.qcow2", "65536");
        Layout l = layout(p);
        putLong(p, l.rt() + 8, 1L << 40);
        agrees(p, 2);
    }

    @Test
    void aBrokenHeaderMeansNotCompleted() throws IOException {
        Path p = image("hdr.qcow2", "65536");
        putLong(p, 40, 12345); // l1_table_offset unaligned
        agrees(p, 1);
    }

    @Test
    void problemsAreListedCapped() throws IOException {
        Path p = image("many.qcow2", "512");
        Layout l = layout(p);
        for (int i = 0; i < 64; i++) {
            putLong(p, l.l2() + 8L * i, (l.l1() + 3) | Qcow2Image.COPIED); // unaligned, every entry of the table
        }
        Qcow2Checker.Report r = agrees(p, 2);
        assertThat(r.lines()).hasSizeLessThanOrEqualTo(Qcow2Checker.MAX_LINES + 3);
        assertThat(String.join("\n", r.lines())).contains("more");
    }
    /** -r leaks lowers a leaked refcount; qemu-img then finds the image clean and its data intact. */
    @Test
    void repairLeaksFreesThemAndQemuAgrees() throws IOException {
        Path p = image("fix-leak.qcow2", "4096");
        byte[] before = QemuImg.asRaw(p, "qcow2");
        Layout l = layout(p);
        long c = Math.ceilDiv(Files.size(p), l.cluster());
        try (RandomAccessFile raf = new RandomAccessFile(p.toFile(), "rw")) {
            raf.setLength((c + 1) * l.cluster());
        }
        putShort(p, l.refblock() + 2 * c, 1);
        agrees(p, 3);
        Qcow2Checker.Repaired r = Qcow2Checker.repair(p, Qcow2Checker.Repair.LEAKS);
        assertThat(r.refused()).isNull();
        assertThat(r.leaksFixed()).isEqualTo(1);
        assertThat(r.after().exitCode()).isZero();
        agrees(p, 0);
        assertThat(QemuImg.asRaw(p, "qcow2")).isEqualTo(before);
    }

    /** A used cluster's zeroed refcount: -r leaks refuses (errors), -r all raises it back. */
    @Test
    void repairAllRaisesATooLowRefcountWhichLeaksAlone() throws IOException {
        Path p = image("fix-low.qcow2", "65536");
        byte[] before = QemuImg.asRaw(p, "qcow2");
        Layout l = layout(p);
        putShort(p, l.refblock() + 2 * (l.data() / l.cluster()), 0);
        agrees(p, 2);
        Qcow2Checker.Repaired leaksOnly = Qcow2Checker.repair(p, Qcow2Checker.Repair.LEAKS);
        assertThat(leaksOnly.refused()).contains("-r all");
        agrees(p, 2);
        Qcow2Checker.Repaired all = Qcow2Checker.repair(p, Qcow2Checker.Repair.ALL);
        assertThat(all.refused()).isNull();
        assertThat(all.errorsFixed()).isEqualTo(1);
        agrees(p, 0);
        assertThat(QemuImg.asRaw(p, "qcow2")).isEqualTo(before);
    }

    /** A bumped refcount with COPIED cleared to match: -r all lowers it and sets COPIED again, as qemu-img -r all. */
    @Test
    void repairAllFixesTheCopiedFlagThatFollowsALeak() throws IOException {
        Path p = image("fix-copied.qcow2", "65536");
        byte[] before = QemuImg.asRaw(p, "qcow2");
        Layout l = layout(p);
        putShort(p, l.refblock() + 2 * (l.data() / l.cluster()), 2);
        putLong(p, l.l2(), l.data());
        agrees(p, 3);
        Qcow2Checker.Repaired r = Qcow2Checker.repair(p, Qcow2Checker.Repair.ALL);
        assertThat(r.refused()).isNull();
        assertThat(r.leaksFixed()).isEqualTo(1);
        assertThat(r.errorsFixed()).isEqualTo(1);
        agrees(p, 0);
        assertThat(QemuImg.asRaw(p, "qcow2")).isEqualTo(before);
    }

    /** Structural damage: the references cannot be trusted, so nothing is written. */
    @Test
    void repairRefusesAnImageWithStructuralErrorsAndWritesNothing() throws IOException {
        Path p = image("fix-meta.qcow2", "65536");
        Layout l = layout(p);
        putLong(p, l.l2(), l.l1() | Qcow2Image.COPIED);
        byte[] damaged = Files.readAllBytes(p);
        Qcow2Checker.Repaired r = Qcow2Checker.repair(p, Qcow2Checker.Repair.ALL);
        assertThat(r.refused()).contains("other than refcounts");
        assertThat(Files.readAllBytes(p)).isEqualTo(damaged);
    }

    @Test
    void repairTakesTheExclusiveLock() throws IOException {
        Path p = image("fix-busy.qcow2", "65536");
        try (Qcow2Image inUse = Qcow2Image.open(p, true, BackingPolicy.TOP_DIRECTORY)) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> Qcow2Checker.repair(p, Qcow2Checker.Repair.ALL))
                    .isInstanceOf(IOException.class).hasMessageContaining("in use");
        }
    }
}
