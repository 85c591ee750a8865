package io.jkvm.lab;

import io.jkvm.image.Busybox;
import io.jkvm.image.Initramfs;
import io.jkvm.image.JkvmHome;
import io.jkvm.image.KernelModules;
import io.jkvm.image.Resources;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** The lab machine's (L1's) initramfs: busybox, 9p/virtio, KVM and networking modules, lab /init. */
final class L1Image {
    /** Modules loaded in L1, dependencies added from modules.dep. */
    static final List<String> MODULES = List.of(
            // host files over virtio-9p, the command's stdio over virtio-serial
            "virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev", "virtio_pci",
            "virtio_console", "9pnet", "9pnet_virtio", "netfs", "fscache", "9p",
            // KVM on the emulated AMD-V CPU
            "irqbypass", "kvm", "ccp", "kvm_amd",
            // what network tests of the VMM need inside L1
            "tun", "tap", "bridge", "veth", "vhost_net", "vhost_vsock", "loop");

    private L1Image() {}

    /** {@code <home>/build/lab/l1-<release>.cpio.gz}, built when missing or stale. */
    static Path ensure(String release) throws IOException {
        Initramfs recipe = new Initramfs(Busybox.require(),
                KernelModules.load(KernelModules.directoryFor(release)), release)
                .modules(MODULES)
                .init(Resources.text(L1Image.class, "lab-init.sh"));
        return recipe.ensure(JkvmHome.buildDir().resolve("lab").resolve("l1-" + release + ".cpio.gz"));
    }
}
