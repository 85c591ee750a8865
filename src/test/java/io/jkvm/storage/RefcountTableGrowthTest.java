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
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** {@link RefcountTableGrowth}: writes past what the refcount table covers, then qemu-img check is clean. */
class RefcountTableGrowthTest {
    @TempDir
    Path dir;

    @BeforeEach
    void needsQemuImg() {
        assumeTrue(QemuImg.available(), "qemu-img is not installed");
    }

    @Test
    void growsTheRefcountTableOfAQemuImage() throws IOException {
        Path p = dir.resolve("q.qcow2");
        // 512-byte clusters: qemu's one-cluster refcount table (64 entries x 256 clusters) covers 8 MiB of file.
        QemuImg.img("create", "-f", "qcow2", "-o", "cluster_size=512", p.toString(), "20M");
        byte[] model = new byte[20 << 20];
        new Random(6).nextBytes(model);
        try (Qcow2Image q = Qcow2Image.open(p, false, BackingPolicy.TOP_DIRECTORY)) {
            for (int off = 0; off < model.length; off += 1 << 20) {
                QemuImg.write(q, off, Arrays.copyOfRange(model, off, off + (1 << 20)));
            }
        }
        assertThat(QemuImg.img("info", "--output=json", p.toString())).contains("\"refcount-bits\": 16");
        QemuImg.Result check = QemuImg.check(p);
        assertThat(check.exit()).as(check.output()).isZero();
        assertThat(QemuImg.asRaw(p, "qcow2")).isEqualTo(model);
    }


    @Test
    void growsTwiceWithEightBitRefcounts() throws IOException {
        Path p = dir.resolve("r8.qcow2");
        QemuImg.img("create", "-f", "qcow2", "-o", "cluster_size=512,refcount_bits=8", p.toString(), "40M");
        byte[] model = new byte[40 << 20];
        new Random(7).nextBytes(model);
        try (Qcow2Image q = Qcow2Image.open(p, false, BackingPolicy.TOP_DIRECTORY)) {
            for (int off = 0; off < model.length; off += 1 << 20) {
                QemuImg.write(q, off, Arrays.copyOfRange(model, off, off + (1 << 20)));
            }
            q.flush();
        }
        assertThat(Files.size(p)).isGreaterThan(40 << 20);
        QemuImg.Result check = QemuImg.check(p);
        assertThat(check.exit()).as(check.output()).isZero();
        assertThat(QemuImg.asRaw(p, "qcow2")).isEqualTo(model);
    }
}
