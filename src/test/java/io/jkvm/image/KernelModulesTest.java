package io.jkvm.image;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KernelModulesTest {
    @TempDir Path dir;

    @Test
    void resolvesDependenciesFirstAndReportsBuiltinAndMissing() throws IOException {
        Files.writeString(dir.resolve("modules.dep"), """
                kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko
                kernel/fs/jbd2/jbd2.ko:
                kernel/fs/mbcache.ko:
                kernel/lib/crc16.ko:
                kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio.ko
                kernel/drivers/virtio/virtio.ko:
                """);
        Files.writeString(dir.resolve("modules.builtin"), "kernel/drivers/char/hw_random/rng-core.ko\n");
        KernelModules km = KernelModules.load(dir);
        KernelModules.Resolution r = km.resolve(List.of("ext4", "virtio_rng", "rng-core", "nosuch", "jbd2"));
        assertThat(r.files()).containsExactly("kernel/lib/crc16.ko", "kernel/fs/mbcache.ko", "kernel/fs/jbd2/jbd2.ko",
                "kernel/fs/ext4/ext4.ko.xz", "kernel/drivers/virtio/virtio.ko",
                "kernel/drivers/char/hw_random/virtio-rng.ko");
        assertThat(r.builtin()).containsExactly("rng_core");
        assertThat(r.missing()).containsExactly("nosuch");
    }

    @Test
    void namesIgnoreCompressionAndDashes() {
        assertThat(KernelModules.moduleName("kernel/arch/x86/kvm/kvm-amd.ko.zst")).isEqualTo("kvm_amd");
        assertThat(KernelModules.uncompressedName("a/b.ko.xz")).isEqualTo("a/b.ko");
    }

    @Test
    void decompressesXzModules() throws Exception {
        Path ko = dir.resolve("m.ko");
        Files.writeString(ko, "module bytes");
        Process p = new ProcessBuilder("xz", "-k", ko.toString()).start();
        org.junit.jupiter.api.Assumptions.assumeTrue(p.waitFor() == 0, "xz not available");
        Files.writeString(dir.resolve("modules.dep"), "m.ko.xz:\n");
        byte[] b = KernelModules.load(dir).readUncompressed("m.ko.xz");
        assertThat(new String(b, StandardCharsets.UTF_8)).isEqualTo("module bytes");
    }

    /** The installed kernel's bochs module (if any) resolves to the DRM helpers it needs, before it. */
    @Test
    void bochsResolvesItsDrmHelpersOnTheInstalledKernel() throws IOException {
        var kernel = DefaultImage.defaultKernel();
        org.junit.jupiter.api.Assumptions.assumeTrue(kernel.isPresent(), "no kernel with modules in /boot");
        KernelModules km = KernelModules.load(KernelModules.directoryFor(KernelVersion.of(kernel.get())));
        KernelModules.Resolution r = km.resolve(DefaultImage.MODULES);
        org.junit.jupiter.api.Assumptions.assumeFalse(r.missing().contains("bochs"), "this kernel has no bochs driver");
        java.util.List<String> names = r.files().stream().map(KernelModules::moduleName).toList();
        if (!r.builtin().contains("bochs")) {
            int bochs = names.indexOf("bochs");
            org.assertj.core.api.Assertions.assertThat(bochs).isPositive();
            for (String dep : new String[] {"drm", "drm_kms_helper", "ttm", "drm_ttm_helper", "drm_vram_helper"}) {
                if (!r.builtin().contains(dep)) {
                    org.assertj.core.api.Assertions.assertThat(names).contains(dep);
                    org.assertj.core.api.Assertions.assertThat(names.indexOf(dep)).as(dep).isLessThan(bochs);
                }
            }
        }
    }
}
