package io.jkvm.storage;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@link Qcow2Image} against qemu-img 7.2, the reference: what qemu wrote we read, what we write qemu checks and reads. */
class Qcow2ImageTest {
    @TempDir
    Path dir;

    @BeforeEach
    void needsQemuImg() {
        assumeTrue(QemuImg.available(), "qemu-img is not installed");
    }

    private Path create(String name, String size, String... options) throws IOException {
        Path p = dir.resolve(name);
        String[] args = new String[options.length + 5];
        args[0] = "create";
        args[1] = "-f";
        args[2] = "qcow2";
        System.arraycopy(options, 0, args, 3, options.length);
        args[options.length + 3] = p.toString();
        args[options.length + 4] = size;
        QemuImg.img(args);
        return p;
    }

    private static Qcow2Image open(Path p, boolean readOnly) throws IOException {
        return Qcow2Image.open(p, readOnly, BackingPolicy.TOP_DIRECTORY);
    }

    @ParameterizedTest(name = "compat={0} cluster_size={1}")
    @CsvSource({"0.10, 65536", "1.1, 65536", "1.1, 512", "0.10, 4096", "1.1, 2097152"})
    void readsWhatQemuWrote(String compat, int clusterSize) throws IOException {
        Path p = create("q.qcow2", "3M", "-o", "compat=" + compat + ",cluster_size=" + clusterSize);
        QemuImg.io(p, "qcow2", "write -P 0xab 0 1M", "write -P 0x5c 1234k 3k", "write -P 0x01 3071k 1k",
                "write -z 100k 64k");
        byte[] expected = QemuImg.asRaw(p, "qcow2");
        try (Qcow2Image q = open(p, true)) {
            assertThat(q.size()).isEqualTo(3 << 20);
            assertThat(q.version()).isEqualTo(compat.equals("0.10") ? 2 : 3);
            assertThat(q.clusterSize()).isEqualTo(clusterSize);
            assertThat(QemuImg.readAll(q, 7 * 512)).isEqualTo(expected);
        }
    }

    @Test
    void readsCompressedClusters() throws IOException {
        Path raw = dir.resolve("src.raw");
        byte[] content = new byte[1 << 20];
        Random r = new Random(7);
        for (int i = 0; i < content.length; i += 4096) {
            Arrays.fill(content, i, i + 2048, (byte) r.nextInt()); // compressible, and not all the same
        }
        Files.write(raw, content);
        Path c = dir.resolve("c.qcow2");
        QemuImg.img("convert", "-c", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4096", raw.toString(), c.toString());
        assertThat(Files.size(c)).as("qemu compressed it").isLessThan(content.length / 2);
        try (Qcow2Image q = open(c, true)) {
            assertThat(QemuImg.readAll(q, 1536)).isEqualTo(content);
        }
    }

    @ParameterizedTest(name = "compat={0} cluster_size={1}")
    @CsvSource({"0.10, 4096", "1.1, 512", "1.1, 65536"})
    void writesQemuChecksAndReads(String compat, int clusterSize) throws IOException {
        Path p = create("w.qcow2", "2M", "-o", "compat=" + compat + ",cluster_size=" + clusterSize);
        byte[] model = new byte[2 << 20];
        Random r = new Random(clusterSize);
        try (Qcow2Image q = open(p, false)) {
            // Across cluster boundaries, across L2 tables (512-byte clusters: 64 entries, 32 KiB each), both ends.
            long[] offsets = {0, 511, 4095, 32 * 1024 - 100, 65536 - 7, 1 << 20, (2 << 20) - 1000};
            for (long off : offsets) {
                byte[] data = new byte[(int) Math.min(40_000, model.length - off)];
                r.nextBytes(data);
                QemuImg.write(q, off, data);
                System.arraycopy(data, 0, model, (int) off, data.length);
            }
            byte[] again = new byte[300];
            Arrays.fill(again, (byte) 0x42);
            QemuImg.write(q, 600, again); // in place, into a cluster already allocated
            System.arraycopy(again, 0, model, 600, again.length);
            q.flush();
            assertThat(QemuImg.readAll(q, 4096)).isEqualTo(model);
        }
        QemuImg.Result check = QemuImg.check(p);
        assertThat(check.exit()).as(check.output()).isZero();
        assertThat(QemuImg.asRaw(p, "qcow2")).isEqualTo(model);
    }

    @Test
    void writesWholeImageAcrossManyRefcountBlocks() throws IOException {
        // 512-byte clusters: one refcount block covers 256 clusters, so 1 MiB of data needs ~9 of them.
        Path p = create("full.qcow2", "1M", "-o", "cluster_size=512");
        byte[] model = new byte[1 << 20];
        new Random(3).nextBytes(model);
        try (Qcow2Image q = open(p, false)) {
            for (int off = 0; off < model.length; off += 65536) {
                QemuImg.write(q, off, Arrays.copyOfRange(model, off, off + 65536));
            }
        }
        QemuImg.Result check = QemuImg.check(p);
        assertThat(check.exit()).as(check.output()).isZero();
        assertThat(QemuImg.asRaw(p, "qcow2")).isEqualTo(model);
    }

    @Test
    void overlayCopiesOnWriteFromItsRawBaseAndLeavesItAlone() throws IOException {
        Path base = dir.resolve("base.raw");
        byte[] baseBytes = new byte[1 << 20];
        new Random(11).nextBytes(baseBytes);
        Files.write(base, baseBytes);
        Path over = create("over.qcow2", "1536K", "-o", "cluster_size=4096", "-b", "base.raw", "-F", "raw");
        byte[] model = Arrays.copyOf(baseBytes, 1536 << 10); // past the base's end: zeroes
        try (Qcow2Image q = open(over, false)) {
            assertThat(q.backing()).isInstanceOf(RawImage.class);
            assertThat(q.backing().readOnly()).isTrue();
            assertThat(QemuImg.readAll(q, 4096)).isEqualTo(model);
            byte[] data = new byte[5000];
            Arrays.fill(data, (byte) 0xee);
            for (long off : new long[] {100, 8190, (1 << 20) - 2000, (1 << 20) + 10}) {
                QemuImg.write(q, off, data);
                System.arraycopy(data, 0, model, (int) off, data.length);
            }
            assertThat(QemuImg.readAll(q, 512)).isEqualTo(model);
        }
        QemuImg.Result check = QemuImg.check(over);
        assertThat(check.exit()).as(check.output()).isZero();
        assertThat(QemuImg.asRaw(over, "qcow2")).isEqualTo(model);
        assertThat(Files.readAllBytes(base)).as("the base is untouched").isEqualTo(baseBytes);
    }

    @Test
    void readsAQcow2ChainAndWritesItsTop() throws IOException {
        Path base = create("base.qcow2", "1M", "-o", "cluster_size=4096");
        QemuImg.io(base, "qcow2", "write -P 0x11 0 512k");
        Path mid = create("mid.qcow2", "1M", "-b", "base.qcow2", "-F", "qcow2");
        QemuImg.io(mid, "qcow2", "write -P 0x22 256k 128k");
        Path top = create("top.qcow2", "1M", "-o", "cluster_size=512", "-b", "mid.qcow2", "-F", "qcow2");
        byte[] baseBefore = Files.readAllBytes(base);
        byte[] midBefore = Files.readAllBytes(mid);
        byte[] model = QemuImg.asRaw(top, "qcow2");
        try (Qcow2Image q = open(top, false)) {
            assertThat(QemuImg.readAll(q, 65536)).isEqualTo(model);
            byte[] data = new byte[1000];
            Arrays.fill(data, (byte) 0x33);
            QemuImg.write(q, 256 * 1024 - 300, data);
            System.arraycopy(data, 0, model, 256 * 1024 - 300, data.length);
        }
        assertThat(QemuImg.check(top).exit()).isZero();
        assertThat(QemuImg.asRaw(top, "qcow2")).isEqualTo(model);
        assertThat(Files.readAllBytes(base)).isEqualTo(baseBefore);
        assertThat(Files.readAllBytes(mid)).isEqualTo(midBefore);
    }

    @Test
    void writesOverCompressedClustersMoveThemAndFreeTheOldSpace() throws IOException {
        Path raw = dir.resolve("src.raw");
        byte[] model = new byte[256 << 10];
        for (int i = 0; i < model.length; i++) {
            model[i] = (byte) (i / 1000);
        }
        Files.write(raw, model);
        Path c = dir.resolve("c.qcow2");
        QemuImg.img("convert", "-c", "-f", "raw", "-O", "qcow2", "-o", "cluster_size=4096", raw.toString(), c.toString());
        try (Qcow2Image q = open(c, false)) {
            byte[] data = new byte[3000];
            Arrays.fill(data, (byte) 0x99);
            QemuImg.write(q, 5000, data); // partial: inflate, overlay, new cluster
            System.arraycopy(data, 0, model, 5000, data.length);
            byte[] whole = new byte[4096];
            Arrays.fill(whole, (byte) 0x77);
            QemuImg.write(q, 16384, whole); // whole cluster
            System.arraycopy(whole, 0, model, 16384, whole.length);
            assertThat(QemuImg.readAll(q, 4096)).isEqualTo(model);
        }
        QemuImg.Result check = QemuImg.check(c);
        assertThat(check.exit()).as(check.output()).isZero();
        assertThat(QemuImg.asRaw(c, "qcow2")).isEqualTo(model);
    }

    @Test
    void writeZeroesMakesZeroClustersAndPartialZeroes() throws IOException {
        Path base = dir.resolve("base.raw");
        byte[] baseBytes = new byte[512 << 10];
        Arrays.fill(baseBytes, (byte) 0xff);
        Files.write(base, baseBytes);
        Path over = create("over.qcow2", "512K", "-o", "cluster_size=4096", "-b", "base.raw", "-F", "raw");
        byte[] model = baseBytes.clone();
        try (Qcow2Image q = open(over, false)) {
            QemuImg.write(q, 0, new byte[] {1, 2, 3});
            System.arraycopy(new byte[] {1, 2, 3}, 0, model, 0, 3);
            q.writeZeroes(2, 3 * 4096, false); // partial head and tail, whole clusters between
            Arrays.fill(model, 2, 2 + 3 * 4096, (byte) 0);
            q.writeZeroes(64 << 10, 64 << 10, true); // unallocated over a backing file: zero clusters
            Arrays.fill(model, 64 << 10, 128 << 10, (byte) 0);
            assertThat(QemuImg.readAll(q, 4096)).isEqualTo(model);
        }
        QemuImg.Result check = QemuImg.check(over);
        assertThat(check.exit()).as(check.output()).isZero();
        assertThat(QemuImg.asRaw(over, "qcow2")).isEqualTo(model);
    }

    @Test
    void backingFileOutsideTheAllowedDirectoriesIsRefused() throws IOException {
        Path passwd = create("passwd.qcow2", "1M", "-u", "-b", "/etc/passwd", "-F", "raw");
        assertThatThrownBy(() -> open(passwd, false)).isInstanceOf(IOException.class)
                .hasMessageContaining("/etc/passwd").hasMessageContaining("outside");
        Path elsewhere = Files.createDirectory(dir.resolve("elsewhere"));
        Path images = Files.createDirectory(dir.resolve("images"));
        Files.write(elsewhere.resolve("base.raw"), new byte[4096]);
        Path over = images.resolve("over.qcow2");
        QemuImg.img("create", "-f", "qcow2", "-b", "../elsewhere/base.raw", "-F", "raw", over.toString(), "1M");
        assertThatThrownBy(() -> open(over, true)).hasMessageContaining("outside");
        try (Qcow2Image q = Qcow2Image.open(over, true, BackingPolicy.under(List.of(elsewhere)))) {
            assertThat(q.backing().path()).isEqualTo(elsewhere.resolve("base.raw").toRealPath());
        }
        assertThatThrownBy(() -> Qcow2Image.open(over, true, BackingPolicy.NONE)).hasMessageContaining("not allowed");
        // A symbolic link in the allowed directory does not lead out of it: the real path counts.
        Files.createSymbolicLink(images.resolve("link.raw"), Path.of("/etc/passwd"));
        Path linked = images.resolve("linked.qcow2");
        QemuImg.img("create", "-f", "qcow2", "-u", "-b", "link.raw", "-F", "raw", linked.toString(), "1M");
        assertThatThrownBy(() -> open(linked, true)).hasMessageContaining("/etc/passwd").hasMessageContaining("outside");
    }

    @Test
    void backingFileWithoutAFormatIsRefusedNotProbed() throws IOException {
        Files.write(dir.resolve("base.raw"), new byte[4096]);
        Path over = create("over.qcow2", "1M", "-u", "-b", "base.raw", "-F", "raw");
        // qemu-img 7.2 no longer makes such images: rename the backing format extension to an unknown type.
        byte[] b = Files.readAllBytes(over);
        int at = indexOf(b, new byte[] {(byte) 0xe2, 0x79, 0x2a, (byte) 0xca});
        assertThat(at).isPositive();
        b[at] = 0x12;
        Files.write(over, b);
        assertThatThrownBy(() -> open(over, true)).hasMessageContaining("without a backing format");
    }

    @Test
    void backingChainLoopIsRefused() throws IOException {
        Path a = create("a.qcow2", "1M");
        Path b = create("b.qcow2", "1M", "-u", "-b", "a.qcow2", "-F", "qcow2");
        QemuImg.img("rebase", "-u", "-b", "b.qcow2", "-F", "qcow2", a.toString());
        assertThatThrownBy(() -> open(b, true)).hasMessageContaining("loop");
    }

    @Test
    void dirtyAndCorruptImagesAreRefusedReadWriteButReadable() throws IOException {
        for (int bit : new int[] {0, 1}) {
            Path p = create("f" + bit + ".qcow2", "1M");
            setIncompatibleBit(p, bit);
            assertThatThrownBy(() -> open(p, false)).isInstanceOf(IOException.class)
                    .hasMessageContaining(bit == 0 ? "dirty" : "corrupt").hasMessageContaining("qemu-img check -r all");
            try (Qcow2Image q = open(p, true)) {
                assertThat(q.size()).isEqualTo(1 << 20);
            }
        }
        Path unknown = create("u.qcow2", "1M");
        setIncompatibleBit(unknown, 9);
        assertThatThrownBy(() -> open(unknown, true)).hasMessageContaining("incompatible_features")
                .hasMessageContaining("bit 9");
    }

    @Test
    void guestWritesAimedAtAnL2TableOrARefcountBlockAreRefusedAndLeaveThemAlone() throws IOException {
        Path p = create("m.qcow2", "1M");
        try (Qcow2Image q = open(p, false)) {
            QemuImg.write(q, 0, new byte[] {1}); // allocates an L2 table and a data cluster
        }
        byte[] clean = Files.readAllBytes(p);
        java.nio.ByteBuffer h = java.nio.ByteBuffer.wrap(clean);
        long l2 = h.getLong((int) h.getLong(40)) & Qcow2Image.OFFSET_MASK; // L1[0]
        long block = h.getLong((int) h.getLong(48)); // refcount table[0]
        for (long target : new long[] {l2, block}) {
            byte[] b = clean.clone();
            // The L2 entry of guest cluster 1 (64 KiB) now claims the table's cluster as its data.
            java.nio.ByteBuffer.wrap(b).putLong((int) l2 + 8, target | (1L << 63));
            Files.write(p, b);
            try (Qcow2Image q = open(p, false)) {
                assertThatThrownBy(() -> QemuImg.write(q, 65536, new byte[512])).isInstanceOf(IOException.class)
                        .hasMessageContaining("guest offset 65536").hasMessageContaining("L2 tables or refcount blocks");
            }
            byte[] after = Files.readAllBytes(p);
            assertThat(Arrays.copyOfRange(after, (int) target, (int) target + 65536))
                    .isEqualTo(Arrays.copyOfRange(b, (int) target, (int) target + 65536));
        }
    }

    @Test
    void zstdCompressionIsRefusedClearly() throws IOException {
        Path p = create("z.qcow2", "1M", "-o", "compression_type=zstd");
        assertThatThrownBy(() -> open(p, true)).hasMessageContaining("zstd");
    }

    @Test
    void lockedAgainstASecondWriterAndQemu() throws IOException {
        Path p = create("l.qcow2", "1M");
        try (Qcow2Image q = open(p, false)) {
            assertThatThrownBy(() -> open(p, false)).hasMessageContaining("in use");
        }
        try (Qcow2Image q = open(p, true); Qcow2Image r = open(p, true)) {
            assertThat(q.readOnly()).isTrue();
            assertThatThrownBy(() -> QemuImg.write(q, 0, new byte[1])).hasMessageContaining("read-only");
        }
    }

    @Test
    void outOfRangeRequestsAreRefused() throws IOException {
        Path p = create("r.qcow2", "1M");
        try (Qcow2Image q = open(p, false)) {
            assertThatThrownBy(() -> QemuImg.write(q, (1 << 20) - 1, new byte[2])).hasMessageContaining("outside");
            assertThatThrownBy(() -> QemuImg.write(q, -1, new byte[1])).hasMessageContaining("outside");
        }
    }

    @Test
    void infoDescribesTheChain() throws IOException {
        Files.write(dir.resolve("base.raw"), new byte[8192]);
        Path over = create("over.qcow2", "1M", "-o", "cluster_size=4096", "-b", "base.raw", "-F", "raw");
        assertThat(ImageInfo.looksLikeQcow2(over)).isTrue();
        assertThat(ImageInfo.looksLikeQcow2(dir.resolve("base.raw"))).isFalse();
        try (DiskImage q = DiskImages.open(over, DiskFormat.QCOW2, true, BackingPolicy.TOP_DIRECTORY)) {
            assertThat(ImageInfo.describe(q)).contains("format: qcow2 (version 3)", "virtual size: 1048576 bytes",
                    "cluster size: 4096", "backing name: base.raw (format raw)", "  backing file: ", "  format: raw",
                    "  virtual size: 8192 bytes");
        }
    }

    @Test
    void virtualSizeIsTheHeadersForQcow2AndTheFilesForRaw() throws IOException {
        Path p = create("s.qcow2", "5M");
        assertThat(ImageInfo.virtualSize(p, DiskFormat.QCOW2)).isEqualTo(5 << 20);
        assertThat(ImageInfo.virtualSize(p, DiskFormat.RAW)).isEqualTo(Files.size(p));
        Path raw = Files.write(dir.resolve("r.raw"), new byte[4096]);
        assertThatThrownBy(() -> ImageInfo.virtualSize(raw, DiskFormat.QCOW2)).hasMessageContaining("no qcow2 header");
    }

    @Test
    void rawDiskWithTheQcow2MagicIsServedRaw() throws IOException {
        Path p = create("q.qcow2", "1M");
        try (DiskImage d = DiskImages.open(new DiskConfig(p, true, null))) {
            assertThat(d).isInstanceOf(RawImage.class);
            assertThat(d.size()).as("the file, not the virtual disk").isEqualTo(Files.size(p));
        }
        try (DiskImage d = DiskImages.open(DiskConfig.parse("path=" + p + ",format=qcow2,readonly=on"))) {
            assertThat(d).isInstanceOf(Qcow2Image.class);
            assertThat(d.size()).isEqualTo(1 << 20);
        }
    }

    private static int indexOf(byte[] b, byte[] what) {
        for (int i = 0; i + what.length <= b.length; i++) {
            if (Arrays.equals(b, i, i + what.length, what, 0, what.length)) {
                return i;
            }
        }
        return -1;
    }

    private static void setIncompatibleBit(Path p, int bit) throws IOException {
        byte[] b = Files.readAllBytes(p);
        b[72 + 7 - bit / 8] |= (byte) (1 << (bit % 8));
        Files.write(p, b);
    }
}
