package io.jkvm.image;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * The default guest image: an initramfs with Debian's static busybox and the virtio, vsock and
 * ext4 modules of the guest kernel, for booting stock Debian kernels in jkvm.
 *
 * <p>Its {@code /init} mounts proc, sys and devtmpfs, loads the modules (quietly; absent devices
 * are fine) and prints two machine-parseable lines on the console:
 * <pre>
 * jkvm-guest: up
 * jkvm-guest: kernel=6.1.0-56-amd64 cpus=2 mem_kb=496012 date=2025-01-01T00:00:00Z uptime_s=1.23
 * </pre>
 * Kernel command line switches:
 * <ul>
 *   <li>{@code jkvm.demo}: print the lines above, then {@code poweroff -f} (ACPI/poweroff exit);
 *   <li>{@code jkvm.reboot}: print them, then {@code reboot -f} (reset exit);
 *   <li>{@code root=/dev/vda}: if that block device exists, mount it as ext4 and
 *       {@code switch_root} to it, running {@code init=PATH} (default {@code /sbin/init});
 *   <li>none of these: an interactive shell on the console ({@code setsid cttyhack sh -l});
 *       the guest powers off when it exits. With a framebuffer ({@code --display}) another
 *       shell runs on tty1, the framebuffer console.
 * </ul>
 */
public final class DefaultImage {
    /**
     * Modules the image carries (dependencies are added from modules.dep). virtio_mmio binds the
     * DSDT's LNRO0005 devices of a {@code --virtio-transport mmio} VM; it comes before the device
     * drivers so the disks are there when virtio_blk loads (absent or built-in modules are skipped).
     * bochs drives {@code --display} (drm, drm_kms_helper, ttm, drm_ttm_helper and drm_vram_helper
     * come from modules.dep); its fbdev emulation gives the framebuffer console on tty0.
     * virtio_input binds the keyboard and tablet a display comes with.
     */
    public static final List<String> MODULES = List.of(
            "virtio_ring", "virtio", "virtio_mmio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
            "virtio_blk", "failover", "net_failover", "virtio_net", "virtio_console", "virtio_balloon",
            "rng_core", "virtio_rng", "vsock", "vmw_vsock_virtio_transport_common",
            "vmw_vsock_virtio_transport", "crc16", "mbcache", "jbd2", "crc32c_generic", "libcrc32c",
            "ext4", "bochs", "virtio_input");

    private DefaultImage() {}

    /** {@code <home>/build/images/default-<release>.cpio.gz}. */
    public static Path defaultOutput(String release) {
        return JkvmHome.buildDir().resolve("images").resolve("default-" + release + ".cpio.gz");
    }

    /** The newest {@code /boot/vmlinuz-*} that has its modules installed. */
    public static Optional<Path> defaultKernel() {
        Path boot = Path.of("/boot");
        if (!Files.isDirectory(boot)) {
            return Optional.empty();
        }
        try (Stream<Path> s = Files.list(boot)) {
            return s.filter(p -> p.getFileName().toString().startsWith("vmlinuz-"))
                    .filter(p -> Files.isDirectory(KernelModules.directoryFor(
                            p.getFileName().toString().substring("vmlinuz-".length()))))
                    .max(Comparator.comparing(p -> p.getFileName().toString(), DefaultImage::compareVersions));
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** Orders "vmlinuz-6.1.0-9-amd64" before "vmlinuz-6.1.0-10-amd64": numbers compare as numbers. */
    static int compareVersions(String a, String b) {
        String[] x = a.split("(?<=\\D)(?=\\d)|(?<=\\d)(?=\\D)");
        String[] y = b.split("(?<=\\D)(?=\\d)|(?<=\\d)(?=\\D)");
        for (int i = 0; i < Math.min(x.length, y.length); i++) {
            int c = x[i].chars().allMatch(Character::isDigit) && y[i].chars().allMatch(Character::isDigit)
                    ? Long.compare(Long.parseLong(x[i]), Long.parseLong(y[i]))
                    : x[i].compareTo(y[i]);
            if (c != 0) {
                return c;
            }
        }
        return Integer.compare(x.length, y.length);
    }

    /** The recipe for {@code kernel}'s release. */
    public static Initramfs recipe(Path kernel) throws IOException {
        String release = KernelVersion.of(kernel);
        Path dir = KernelModules.directoryFor(release);
        if (!Files.isDirectory(dir)) {
            throw new IOException("no modules for kernel " + release + " in " + dir);
        }
        return new Initramfs(Busybox.require(), KernelModules.load(dir), release)
                .modules(MODULES)
                .init(Resources.text(DefaultImage.class, "default-init.sh"));
    }

    /** Builds (or reuses) the image for {@code kernel} at {@code output}; returns {@code output}. */
    public static Path ensure(Path kernel, Path output) throws IOException {
        return recipe(kernel).ensure(output);
    }

    /** Builds (or reuses) the image for {@code kernel} at its default place. */
    public static Path ensure(Path kernel) throws IOException {
        return ensure(kernel, defaultOutput(KernelVersion.of(kernel)));
    }
}
