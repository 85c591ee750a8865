package io.jkvm.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CpioWriterTest {
    @TempDir Path tmp;

    private static byte[] sample() throws IOException {
        return CpioReader.bytes(w -> w
                .directory("/etc", 0755)
                .file("/etc/hello.txt", "hello\n".getBytes(StandardCharsets.UTF_8), 0644)
                .file("/bin/odd", new byte[] {1, 2, 3}, 0755)
                .symlink("/bin/sh", "busybox")
                .charDevice("/dev/console", 0600, 5, 1));
    }

    @Test
    void parsesBackWithTypesModesAndData() throws IOException {
        byte[] a = sample();
        assertThat(a.length % 4).isZero();
        Map<String, CpioReader.Entry> e = CpioReader.read(a);
        assertThat(e.keySet()).containsExactly("etc", "etc/hello.txt", "bin", "bin/odd", "bin/sh", "dev", "dev/console");
        assertThat(e.get("etc").type()).isEqualTo(0040000);
        assertThat(e.get("etc/hello.txt").mode()).isEqualTo(0100644);
        assertThat(new String(e.get("etc/hello.txt").data(), StandardCharsets.UTF_8)).isEqualTo("hello\n");
        assertThat(e.get("bin/odd").data()).containsExactly(1, 2, 3);
        assertThat(e.get("bin/sh").type()).isEqualTo(0120000);
        assertThat(new String(e.get("bin/sh").data(), StandardCharsets.UTF_8)).isEqualTo("busybox");
        assertThat(e.get("dev/console").mode()).isEqualTo(0020600);
        assertThat(e.get("dev/console").rdevMajor()).isEqualTo(5);
        assertThat(e.get("dev/console").rdevMinor()).isEqualTo(1);
    }

    @Test
    void endsWithTrailerAndIsDeterministic() throws IOException {
        byte[] a = sample();
        assertThat(new String(a, StandardCharsets.US_ASCII)).contains("TRAILER!!!");
        assertThat(sample()).isEqualTo(a);
    }

    @Test
    void rejectsDuplicatesAndEscapes() {
        assertThatThrownBy(() -> CpioReader.bytes(w -> w.file("/a", new byte[0], 0644).file("a", new byte[0], 0644)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("duplicate");
        assertThatThrownBy(() -> CpioReader.bytes(w -> w.file("/../etc/passwd", new byte[0], 0644)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("bad archive path");
    }

    @Test
    void gnuCpioListsAndExtractsTheGzipArchive() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/cpio")), "cpio not installed");
        Path src = tmp.resolve("src.bin");
        Files.write(src, new byte[] {9, 8, 7, 6, 5});
        Path gz = tmp.resolve("a.cpio.gz");
        try (CpioWriter w = CpioWriter.gzipped(gz)) {
            w.file("/data/from-host.bin", src, 0600).symlink("/data/link", "from-host.bin").directory("/empty", 0700);
        }
        Path cpio = tmp.resolve("a.cpio");
        run(List.of("sh", "-c", "gzip -dc " + gz + " > " + cpio), tmp);
        String listing = run(List.of("sh", "-c", "cpio -it < " + cpio), tmp);
        assertThat(listing.lines()).containsExactly("data", "data/from-host.bin", "data/link", "empty");
        Path out = Files.createDirectory(tmp.resolve("out"));
        run(List.of("sh", "-c", "cpio -id --no-absolute-filenames < " + cpio), out);
        assertThat(Files.readAllBytes(out.resolve("data/from-host.bin"))).containsExactly(9, 8, 7, 6, 5);
        assertThat(Files.readSymbolicLink(out.resolve("data/link")).toString()).isEqualTo("from-host.bin");
    }

    private static String run(List<String> cmd, Path dir) throws Exception {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile())
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor()).as("exit status of %s", cmd).isZero();
        return out;
    }
}
