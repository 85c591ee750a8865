package io.jkvm.storage;

import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@link ImageConverter}: convert and commit, checked against qemu-img's reading of the same files. */
class ImageConverterTest {
    @TempDir
    Path dir;

    @BeforeEach
    void needsQemuImg() {
        assumeTrue(QemuImg.available(), "qemu-img is not installed");
    }

    /** A raw base with random bytes and a qemu-made qcow2 overlay with data, zeroes and compressed clusters. */
    private Path chain() throws IOException {
        Path base = dir.resolve("base.raw");
        byte[] b = new byte[3 << 20];
        new Random(11).nextBytes(b);
        Files.write(base, b);
        Path top = dir.resolve("top.qcow2");
        QemuImg.img("create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", top.toString());
        QemuImg.io(top, "qcow2", "write -P 0x5a 100k 200k", "write -z 1M 128k", "write -c -P 0x77 2M 64k");
        return top;
    }

    private static void same(Path a, String fa, Path b, String fb) throws IOException {
        QemuImg.Result r = QemuImg.run(QemuImg.QEMU_IMG.toString(), "compare", "-f", fa, "-F", fb, a.toString(), b.toString());
        assertThat(r.exit()).as(r.output()).isZero();
    }

    @Test
    void qcow2ChainToRawIsWhatQemuReads() throws IOException {
        Path top = chain();
        Path out = dir.resolve("out.raw");
        ImageConverter.convert(top, DiskFormat.QCOW2, out, DiskFormat.RAW, 0, false);
        assertThat(Files.readAllBytes(out)).isEqualTo(QemuImg.asRaw(top, "qcow2"));
        same(top, "qcow2", out, "raw");
    }

    @Test
    void qcow2ChainToQcow2IsCleanAndTheSame() throws IOException {
        Path top = chain();
        Path out = dir.resolve("out.qcow2");
        ImageConverter.convert(top, DiskFormat.QCOW2, out, DiskFormat.QCOW2, 4096, false);
        assertThat(QemuImg.check(out).exit()).isZero();
        same(top, "qcow2", out, "qcow2");
        assertThat(QemuImg.img("info", "--output=json", out.toString())).doesNotContain("backing");
    }

    @Test
    void rawToQcow2AllocatesOnlyNonZeroClusters() throws IOException {
        Path raw = dir.resolve("sparse.raw");
        byte[] b = new byte[16 << 20];
        Arrays.fill(b, 70_000, 70_010, (byte) 1); // inside cluster 1 (64 KiB clusters)
        Arrays.fill(b, 10 << 20, (10 << 20) + 65536, (byte) 2); // exactly cluster 160
        Files.write(raw, b);
        Path out = dir.resolve("sparse.qcow2");
        ImageConverter.convert(raw, DiskFormat.RAW, out, DiskFormat.QCOW2, 0, false);
        assertThat(QemuImg.check(out).exit()).isZero();
        same(raw, "raw", out, "qcow2");
        String map = QemuImg.img("map", "--output=json", "-f", "qcow2", out.toString());
        assertThat(map.split("\"data\": true", -1)).as(map).hasSize(3); // two data extents
        // header, refcount table, refcount block, L1, one L2 table, two data clusters
        assertThat(Files.size(out)).isEqualTo(7 * 65536);
    }

    @Test
    void rawToRawOfAnOddSizeAndQcow2RoundsUp() throws IOException {
        Path raw = dir.resolve("odd.raw");
        byte[] b = new byte[100_001];
        new Random(4).nextBytes(b);
        Files.write(raw, b);
        Path copy = dir.resolve("copy.raw");
        ImageConverter.convert(raw, DiskFormat.RAW, copy, DiskFormat.RAW, 0, false);
        assertThat(Files.readAllBytes(copy)).isEqualTo(b);
        Path q = dir.resolve("odd.qcow2");
        assertThat(ImageConverter.convert(raw, DiskFormat.RAW, q, DiskFormat.QCOW2, 0, false)).isEqualTo(100_352);
        assertThat(Arrays.copyOf(QemuImg.asRaw(q, "qcow2"), b.length)).isEqualTo(b);
    }

    @Test
    void convertRefusesToOverwriteItsSourceOrAnExistingFile() throws IOException {
        Path top = chain();
        Path base = dir.resolve("base.raw");
        byte[] before = Files.readAllBytes(base);
        assertThatThrownBy(() -> ImageConverter.convert(top, DiskFormat.QCOW2, top, DiskFormat.RAW, 0, true))
                .hasMessageContaining("is SRC");
        assertThatThrownBy(() -> ImageConverter.convert(top, DiskFormat.QCOW2, base, DiskFormat.RAW, 0, true))
                .hasMessageContaining("backing chain");
        assertThatThrownBy(() -> ImageConverter.convert(top, DiskFormat.QCOW2, base, DiskFormat.RAW, 0, false))
                .hasMessageContaining("already exists");
        assertThat(Files.readAllBytes(base)).isEqualTo(before);
    }

    @Test
    void commitIntoRawMatchesQemuImgCommit() throws IOException {
        Path top = chain();
        byte[] expected = QemuImg.asRaw(top, "qcow2");
        // qemu's own commit on a copy of the chain, for comparison
        Path qdir = Files.createDirectory(dir.resolve("q"));
        Files.copy(dir.resolve("base.raw"), qdir.resolve("base.raw"));
        Files.copy(top, qdir.resolve("top.qcow2"));
        QemuImg.img("commit", "-d", qdir.resolve("top.qcow2").toString());

        ImageConverter.commit(top);
        byte[] base = Files.readAllBytes(dir.resolve("base.raw"));
        assertThat(base).isEqualTo(expected);
        assertThat(base).isEqualTo(Files.readAllBytes(qdir.resolve("base.raw")));
        assertThat(QemuImg.asRaw(top, "qcow2")).as("the overlay still reads the same").isEqualTo(expected);
        assertThat(QemuImg.check(top).exit()).isZero();
    }

    @Test
    void commitIntoQcow2() throws IOException {
        Path base = dir.resolve("base.qcow2");
        QemuImg.img("create", "-f", "qcow2", base.toString(), "2M");
        QemuImg.io(base, "qcow2", "write -P 0x01 0 2M");
        Path top = dir.resolve("top.qcow2");
        ImageCreator.create(new ImageCreator.Request(top, DiskFormat.QCOW2, 0, "base.qcow2", DiskFormat.QCOW2, 512, false));
        byte[] data = new byte[5000];
        new Random(9).nextBytes(data);
        try (Qcow2Image q = Qcow2Image.open(top, false, BackingPolicy.TOP_DIRECTORY)) {
            QemuImg.write(q, 777, data);
            q.writeZeroes(1 << 20, 65536, false);
        }
        byte[] expected = QemuImg.asRaw(top, "qcow2");
        assertThat(ImageConverter.commit(top)).isEqualTo(11 * 512 + 65536);
        assertThat(QemuImg.check(base).exit()).isZero();
        assertThat(QemuImg.asRaw(base, "qcow2")).isEqualTo(expected);
    }

    @Test
    void commitRefusesWithoutABackingFileOrWhileInUse() throws IOException {
        Path alone = dir.resolve("alone.qcow2");
        ImageCreator.create(new ImageCreator.Request(alone, DiskFormat.QCOW2, 1 << 20, null, null, 0, false));
        assertThatThrownBy(() -> ImageConverter.commit(alone)).hasMessageContaining("no backing file");
        Path top = chain();
        try (Qcow2Image running = Qcow2Image.open(top, false, BackingPolicy.TOP_DIRECTORY)) {
            assertThatThrownBy(() -> ImageConverter.commit(top)).isInstanceOf(IOException.class)
                    .hasMessageContaining("in use");
        }
        Path small = dir.resolve("small.raw");
        Files.write(small, new byte[4096]);
        Path big = dir.resolve("big.qcow2");
        QemuImg.img("create", "-f", "qcow2", "-b", "small.raw", "-F", "raw", big.toString(), "1M");
        assertThatThrownBy(() -> ImageConverter.commit(big)).hasMessageContaining("smaller than");
    }
}
