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
import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@link ImageCreator} and {@link Qcow2Creator}: qemu-img checks and reads what we create, and we fill it. */
class ImageCreatorTest {
    @TempDir
    Path dir;

    @BeforeEach
    void needsQemuImg() {
        assumeTrue(QemuImg.available(), "qemu-img is not installed");
    }

    private static ImageCreator.Request qcow2(Path p, long size, int cluster) {
        return new ImageCreator.Request(p, DiskFormat.QCOW2, size, null, null, cluster, false);
    }

    @ParameterizedTest(name = "size={0} cluster_size={1}")
    @CsvSource({"1048576, 0", "10737418240, 65536", "3145728, 512", "1099511627776, 2097152", "536870912, 512"})
    void qemuChecksAndDescribesWhatWeCreate(long size, int cluster) throws IOException {
        Path p = dir.resolve("c.qcow2");
        ImageCreator.create(qcow2(p, size, cluster));
        QemuImg.Result check = QemuImg.check(p);
        assertThat(check.exit()).as(check.output()).isZero();
        String info = QemuImg.img("info", "--output=json", "-f", "qcow2", p.toString());
        assertThat(info).contains("\"virtual-size\": " + size)
                .contains("\"cluster-size\": " + (cluster == 0 ? 65536 : cluster))
                .contains("\"compat\": \"1.1\"").contains("\"refcount-bits\": 16");
        try (Qcow2Image q = Qcow2Image.open(p, false, BackingPolicy.TOP_DIRECTORY)) {
            assertThat(q.size()).isEqualTo(size);
        }
    }

    @Test
    void guestWritesReadBackByQemu() throws IOException {
        Path p = dir.resolve("w.qcow2");
        ImageCreator.create(qcow2(p, 4 << 20, 4096));
        byte[] model = new byte[4 << 20];
        Random r = new Random(1);
        try (Qcow2Image q = Qcow2Image.open(p, false, BackingPolicy.TOP_DIRECTORY)) {
            for (long off : new long[] {0, 4000, 1 << 20, (4 << 20) - 9000}) {
                byte[] d = new byte[9000];
                r.nextBytes(d);
                QemuImg.write(q, off, d);
                System.arraycopy(d, 0, model, (int) off, d.length);
            }
            q.flush();
        }
        QemuImg.Result check = QemuImg.check(p);
        assertThat(check.exit()).as(check.output()).isZero();
        assertThat(QemuImg.asRaw(p, "qcow2")).isEqualTo(model);
    }

    @Test
    void fillsTheWholeVirtualSizeGrowingTheRefcountTable() throws IOException {
        // 512-byte clusters: one refcount table cluster (64 entries x 256 clusters) covers 8 MiB of file.
        Path p = dir.resolve("full.qcow2");
        ImageCreator.create(qcow2(p, 12 << 20, 512));
        byte[] model = new byte[12 << 20];
        new Random(5).nextBytes(model);
        try (Qcow2Image q = Qcow2Image.open(p, false, BackingPolicy.TOP_DIRECTORY)) {
            for (int off = 0; off < model.length; off += 1 << 20) {
                QemuImg.write(q, off, Arrays.copyOfRange(model, off, off + (1 << 20)));
            }
            q.flush();
            assertThat(QemuImg.readAll(q, 65536)).isEqualTo(model);
        }
        assertThat(Files.size(p)).isGreaterThan(12 << 20);
        QemuImg.Result check = QemuImg.check(p);
        assertThat(check.exit()).as(check.output()).isZero();
        assertThat(QemuImg.asRaw(p, "qcow2")).isEqualTo(model);
    }

    @Test
    void backingFileAndFormatAreRecordedAndFollowed() throws IOException {
        Path base = dir.resolve("base.raw");
        byte[] content = new byte[1 << 20];
        new Random(2).nextBytes(content);
        Files.write(base, content);
        Path top = dir.resolve("top.qcow2");
        long size = ImageCreator.create(new ImageCreator.Request(top, DiskFormat.QCOW2, 0, "base.raw", DiskFormat.RAW, 0, false));
        assertThat(size).isEqualTo(1 << 20);
        QemuImg.Result check = QemuImg.check(top);
        assertThat(check.exit()).as(check.output()).isZero();
        assertThat(QemuImg.img("info", "--output=json", top.toString())).contains("\"backing-filename\": \"base.raw\"")
                .contains("\"backing-filename-format\": \"raw\"");
        assertThat(QemuImg.asRaw(top, "qcow2")).isEqualTo(content);
        try (Qcow2Image q = Qcow2Image.open(top, true, BackingPolicy.TOP_DIRECTORY)) {
            assertThat(QemuImg.readAll(q, 4096)).isEqualTo(content);
        }
    }

    @Test
    void rawIsSparse() throws IOException {
        Path p = dir.resolve("d.raw");
        ImageCreator.create(new ImageCreator.Request(p, DiskFormat.RAW, 1L << 30, null, null, 0, false));
        assertThat(Files.size(p)).isEqualTo(1L << 30);
        assertThat(QemuImg.img("info", "--output=json", "-f", "raw", p.toString())).contains("\"actual-size\": 0");
    }

    @Test
    void existingFilesAreRefusedUnlessForced() throws IOException {
        Path p = dir.resolve("e.raw");
        Files.write(p, new byte[] {1, 2, 3});
        assertThatThrownBy(() -> ImageCreator.create(qcow2(p, 1 << 20, 0)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining(p + " already exists");
        assertThat(Files.size(p)).isEqualTo(3);
        ImageCreator.create(new ImageCreator.Request(p, DiskFormat.QCOW2, 1 << 20, null, null, 0, true));
        assertThat(QemuImg.check(p).exit()).isZero();
        try (Qcow2Image inUse = Qcow2Image.open(p, false, BackingPolicy.TOP_DIRECTORY)) {
            assertThatThrownBy(() -> ImageCreator.create(new ImageCreator.Request(p, DiskFormat.RAW, 512, null, null, 0, true)))
                    .isInstanceOf(IOException.class).hasMessageContaining("in use");
        }
    }

    @Test
    void argumentsAreCheckedAndNamed() throws IOException {
        Path p = dir.resolve("a.qcow2");
        assertThatThrownBy(() -> ImageCreator.create(qcow2(p, 0, 0))).hasMessageContaining("SIZE");
        assertThatThrownBy(() -> ImageCreator.create(qcow2(p, 1000, 0))).hasMessageContaining("multiple of 512");
        assertThatThrownBy(() -> ImageCreator.create(qcow2(p, 1L << 60, 512))).hasMessageContaining("larger than");
        assertThatThrownBy(() -> ImageCreator.create(qcow2(p, 1 << 20, 1000))).hasMessageContaining("--cluster-size 1000");
        assertThatThrownBy(() -> ImageCreator.create(qcow2(p, 1 << 20, 4 << 20))).hasMessageContaining("--cluster-size");
        assertThatThrownBy(() -> ImageCreator.create(new ImageCreator.Request(p, DiskFormat.QCOW2, 1 << 20, "nope.raw",
                DiskFormat.RAW, 0, false))).hasMessageContaining("-b nope.raw: no such file");
        assertThatThrownBy(() -> ImageCreator.create(new ImageCreator.Request(p, DiskFormat.QCOW2, 1 << 20, "x.raw",
                null, 0, false))).hasMessageContaining("needs -F");
        assertThat(p).doesNotExist();
        assertThat(ImageCreator.parseSize("SIZE", "10G")).isEqualTo(10L << 30);
        assertThat(ImageCreator.parseSize("SIZE", "512M")).isEqualTo(512L << 20);
        assertThat(ImageCreator.parseSize("SIZE", "4096")).isEqualTo(4096);
        assertThatThrownBy(() -> ImageCreator.parseSize("SIZE", "ten")).hasMessageContaining("SIZE 'ten'");
    }

    @Test
    void backingLoopIsRefused() throws IOException {
        Path a = dir.resolve("a.qcow2");
        Path b = dir.resolve("b.qcow2");
        ImageCreator.create(qcow2(a, 1 << 20, 0));
        ImageCreator.create(new ImageCreator.Request(b, DiskFormat.QCOW2, 0, "a.qcow2", DiskFormat.QCOW2, 0, false));
        // Recreating a over b would make a -> b -> a.
        assertThatThrownBy(() -> ImageCreator.create(new ImageCreator.Request(a, DiskFormat.QCOW2, 0, "b.qcow2",
                DiskFormat.QCOW2, 0, true))).hasMessageContaining("a loop");
        assertThatThrownBy(() -> ImageCreator.create(new ImageCreator.Request(a, DiskFormat.QCOW2, 0, "a.qcow2",
                DiskFormat.QCOW2, 0, true))).hasMessageContaining("a loop");
    }
}
