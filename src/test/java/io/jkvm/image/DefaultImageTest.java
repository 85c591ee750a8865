package io.jkvm.image;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DefaultImageTest {
    @TempDir Path dir;

    @Test
    void containsInitBusyboxAndVirtioModulesAndIsReused() throws IOException {
        var kernel = DefaultImage.defaultKernel();
        Assumptions.assumeTrue(kernel.isPresent(), "no kernel with modules in /boot (linux-image-amd64)");
        Assumptions.assumeTrue(Busybox.problem(Busybox.DEFAULT).isEmpty(), "no static busybox (busybox-static)");
        Path out = dir.resolve("img.cpio.gz");
        DefaultImage.ensure(kernel.get(), out);
        Map<String, CpioReader.Entry> e = CpioReader.readGzip(out);
        String release = KernelVersion.of(kernel.get());
        assertThat(e).containsKeys("init", "bin/busybox", "bin/sh", "dev/console",
                "lib/modules/" + release + "/" + Initramfs.LOAD_LIST);
        String init = new String(e.get("init").data(), StandardCharsets.UTF_8);
        assertThat(init).startsWith("#!/bin/sh").contains("jkvm-guest: up", "jkvm.demo", "switch_root");
        assertThat(e.get("init").mode() & 0111).isNotZero();
        String order = new String(e.get("lib/modules/" + release + "/" + Initramfs.LOAD_LIST).data(),
                StandardCharsets.UTF_8);
        assertThat(order).contains("virtio_blk.ko", "virtio_net.ko", "ext4.ko", "vmw_vsock_virtio_transport.ko");
        assertThat(order.indexOf("virtio_ring.ko")).isLessThan(order.indexOf("virtio_blk.ko"));
        if (Files.exists(KernelModules.directoryFor(release).resolve("kernel/drivers/virtio/virtio_mmio.ko"))
                || order.contains("virtio_mmio.ko")) {
            // A modular virtio_mmio (Debian's CONFIG_VIRTIO_MMIO=m) loads after its dependencies, before the drivers.
            assertThat(order).contains("virtio_mmio.ko");
            assertThat(order.indexOf("virtio.ko")).isLessThan(order.indexOf("virtio_mmio.ko"));
            assertThat(order.indexOf("virtio_mmio.ko")).isLessThan(order.indexOf("virtio_blk.ko"));
        }
        assertThat(order.indexOf("jbd2.ko")).isLessThan(order.indexOf("ext4.ko"));
        if (order.contains("bochs.ko")) {
            // The display driver after the DRM helpers it needs (Debian: CONFIG_DRM_BOCHS=m).
            for (String dep : new String[] {"/drm.ko", "drm_kms_helper.ko", "ttm.ko", "drm_ttm_helper.ko", "drm_vram_helper.ko"}) {
                assertThat(order).contains(dep);
                assertThat(order.indexOf(dep)).as(dep).isLessThan(order.indexOf("bochs.ko"));
            }
        }
        // Modules are stored uncompressed: busybox insmod cannot read .ko.xz.
        assertThat(order).doesNotContain(".xz", ".zst");
        String blk = order.lines().filter(l -> l.endsWith("virtio_blk.ko")).findFirst().orElseThrow();
        assertThat(new String(e.get("lib/modules/" + release + "/" + blk).data(), 0, 4, StandardCharsets.ISO_8859_1))
                .isEqualTo("\u007fELF");

        // Up to date: not rewritten.
        FileTime before = FileTime.fromMillis(1_000_000_000L);
        Files.setLastModifiedTime(out, before);
        DefaultImage.ensure(kernel.get(), out);
        assertThat(Files.getLastModifiedTime(out)).isEqualTo(before);
    }
}
