package io.jkvm.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** {@code jkvm image create|check|convert|commit}: arguments and exit statuses through the real command line. */
class ImageCommandTest {
    @TempDir
    Path dir;

    private int jkvm(String... args) {
        return Cli.execute(args);
    }

    @Test
    void createCheckConvertCommit() throws IOException {
        Path base = dir.resolve("base.raw");
        Path top = dir.resolve("top.qcow2");
        assertThat(jkvm("image", "create", "-f", "raw", base.toString(), "1M")).isZero();
        assertThat(Files.size(base)).isEqualTo(1 << 20);
        assertThat(jkvm("image", "create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", top.toString())).isZero();
        assertThat(jkvm("image", "check", top.toString())).isZero();
        assertThat(jkvm("image", "convert", "-O", "qcow2", top.toString(), dir.resolve("c.qcow2").toString())).isZero();
        assertThat(jkvm("image", "commit", top.toString())).isZero();
    }

    @Test
    void usageErrorsExitTwo() throws IOException {
        Path p = dir.resolve("x.qcow2");
        assertThat(jkvm("image", "create", "-f", "vmdk", p.toString(), "1M")).isEqualTo(2);
        assertThat(jkvm("image", "create", "-f", "qcow2", p.toString(), "0")).isEqualTo(2);
        assertThat(jkvm("image", "create", "-f", "qcow2", p.toString(), "1M", "--cluster-size", "3000")).isEqualTo(2);
        assertThat(jkvm("image", "create", "-f", "qcow2", p.toString())).isEqualTo(2);
        assertThat(p).doesNotExist();
        assertThat(jkvm("image", "create", "-f", "qcow2", p.toString(), "1M")).isZero();
        assertThat(jkvm("image", "create", "-f", "qcow2", p.toString(), "1M")).isEqualTo(2);
        assertThat(jkvm("image", "commit", p.toString())).isEqualTo(2);
    }

    @Test
    void checkExitsAsQemuImgCheck() throws IOException {
        Path p = dir.resolve("l.qcow2");
        assertThat(jkvm("image", "create", "-f", "qcow2", p.toString(), "1M")).isZero();
        try (RandomAccessFile raf = new RandomAccessFile(p.toFile(), "rw")) {
            raf.seek(2 * 65536); // the first refcount block (header | table | block | L1): the header's refcount
            raf.writeShort(2);
        }
        assertThat(jkvm("image", "check", p.toString())).isEqualTo(3);
        try (RandomAccessFile raf = new RandomAccessFile(p.toFile(), "rw")) {
            raf.seek(2 * 65536);
            raf.writeShort(0);
        }
        assertThat(jkvm("image", "check", p.toString())).isEqualTo(2);
        Path raw = dir.resolve("r.raw");
        Files.write(raw, new byte[512]);
        assertThat(jkvm("image", "check", raw.toString())).isEqualTo(1);
        assertThat(jkvm("image", "check", dir.resolve("missing").toString())).isEqualTo(1);
    }
}
