package io.jkvm.image;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KernelVersionTest {
    @TempDir Path dir;

    @Test
    void readsTheSetupHeaderString() throws IOException {
        byte[] img = new byte[0x1000];
        System.arraycopy("HdrS".getBytes(StandardCharsets.US_ASCII), 0, img, 0x202, 4);
        int ptr = 0x600;  // string at 0x200 + ptr
        img[0x20E] = (byte) ptr;
        img[0x20F] = (byte) (ptr >> 8);
        byte[] s = "6.1.0-99-amd64 (debian-kernel@lists.debian.org) #1 SMP\0".getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(s, 0, img, 0x200 + ptr, s.length);
        Path f = dir.resolve("bzImage");
        Files.write(f, img);
        assertThat(KernelVersion.of(f)).isEqualTo("6.1.0-99-amd64");
    }

    @Test
    void fallsBackToTheFileName() throws IOException {
        Path f = dir.resolve("vmlinuz-5.10.0-1-amd64");
        Files.write(f, new byte[16]);
        assertThat(KernelVersion.of(f)).isEqualTo("5.10.0-1-amd64");
    }

    @Test
    void matchesTheInstalledDebianKernel() throws IOException {
        var k = DefaultImage.defaultKernel();
        Assumptions.assumeTrue(k.isPresent(), "no kernel with modules in /boot");
        String name = k.get().getFileName().toString();
        assertThat(KernelVersion.fromSetupHeader(k.get())).contains(name.substring("vmlinuz-".length()));
    }

    @Test
    void versionsCompareNumerically() {
        assertThat(DefaultImage.compareVersions("vmlinuz-6.1.0-9-amd64", "vmlinuz-6.1.0-10-amd64")).isNegative();
    }
}
