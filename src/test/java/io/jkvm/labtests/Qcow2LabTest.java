package io.jkvm.labtests;

import io.jkvm.image.DefaultImage;
import io.jkvm.lab.Lab;
import io.jkvm.lab.LabResult;
import io.jkvm.testing.JkvmCommand;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Lab: Linux boots from a qcow2 overlay on a raw ext4 base (issue 16's acceptance, with
 * Debian's qemu-img as the checker), its disk on virtio-mmio, which Debian's stock kernel finds
 * through the DSDT (its command-line device support is off). The guest reads a file of the base through the overlay,
 * writes a new one, syncs and powers off; then qemu-img check finds the overlay clean, the base
 * is byte for byte what it was, and the new file read back through qemu-img's own reading of
 * the overlay has the digest the guest printed.
 */
@LabClass
class Qcow2LabTest {
    private static Path kernel;
    private static Path initrd;

    @BeforeAll
    static void needsTheLab() throws IOException {
        LabGuests.assumeLab("mke2fs", "e2fsck", "debugfs");
        kernel = DefaultImage.defaultKernel().orElseThrow();
        initrd = DefaultImage.ensure(kernel);
    }

    private static final String GUEST_INIT = """
            #!/bin/busybox sh
            /bin/busybox --install -s /bin
            export PATH=/bin
            echo "qcow2-test: root=$(awk '$2=="/" {print $1 "," $3}' /proc/mounts | tail -n 1)"
            echo "qcow2-test: known=$(sha256sum /data/known.bin | cut -d' ' -f1)"
            echo "qcow2-test: acpi-mmio=$(ls /sys/bus/platform/drivers/virtio-mmio | grep -c '^LNRO0005:')"
            head -c 4194304 /dev/urandom > /data/new.bin
            echo "qcow2-test: new=$(sha256sum /data/new.bin | cut -d' ' -f1)"
            sync
            echo "qcow2-test: done"
            poweroff -f
            """;

    @Test
    void linuxBootsFromAQcow2OverlayOnVirtioMmioWritesThroughItAndLeavesTheBaseAlone(@TempDir Path dir) throws Exception {
        byte[] known = new byte[1 << 20];
        new Random(16).nextBytes(known);
        Files.write(Files.createDirectories(dir.resolve("tree/data")).resolve("known.bin"), known);
        Path base = LabGuests.ext4WithInit(dir, GUEST_INIT, "64M");
        String baseBefore = sha256(Files.readAllBytes(base));
        Path overlay = dir.resolve("overlay.qcow2");
        LabGuests.host("qemu-img", "create", "-q", "-f", "qcow2", "-b", base.getFileName().toString(), "-F", "raw",
                overlay.toString());

        String cmd = JkvmCommand.shell("run", "--kernel", kernel.toString(), "--initrd", initrd.toString(),
                "--memory", "256M", "--disk", "path=" + overlay + ",format=qcow2,id=root", "--virtio-transport", "mmio",
                "--cmdline", LabGuests.BOOT_ARGS + " root=/dev/vda init=/sbin/init");
        LabResult r = Lab.exec(List.of("sh", "-c", cmd + " </dev/null"), LabGuests.options());
        String out = r.stdout();
        assertThat(r.labFailed()).as(r.error() + "\n--- stdout ---\n" + out + "\n--- stderr ---\n" + r.stderr()
                + "\n--- L1 console ---\n" + r.console()).isFalse();
        assertThat(out).as(out + r.stderr()).contains("qcow2-test: done");
        assertThat(r.exitCode()).as(r.stderr()).isZero();
        assertThat(out).contains("qcow2-test: root=/dev/vda,ext4");
        assertThat(out).as("the disk bound by virtio_mmio through ACPI").contains("qcow2-test: acpi-mmio=1");
        assertThat(field(out, "known")).as("a file of the base, read through the overlay").isEqualTo(sha256(known));

        LabGuests.host("qemu-img", "check", "-q", overlay.toString()); // exit 0: no errors, no leaks
        assertThat(sha256(Files.readAllBytes(base))).as("the base image").isEqualTo(baseBefore);
        Path flat = dir.resolve("flat.raw");
        LabGuests.host("qemu-img", "convert", "-O", "raw", overlay.toString(), flat.toString());
        Path back = dir.resolve("new.bin");
        LabGuests.host("/sbin/debugfs", "-R", "dump /data/new.bin " + back, flat.toString());
        assertThat(sha256(Files.readAllBytes(back))).as("the guest's new file, as qemu-img reads the overlay")
                .isEqualTo(field(out, "new"));
        LabGuests.host("/sbin/e2fsck", "-fn", flat.toString()); // exit 0: the file system is clean
    }

    private static String field(String out, String name) {
        Matcher m = Pattern.compile("qcow2-test: " + name + "=([0-9a-f]{64})").matcher(out);
        assertThat(m.find()).as("%s in %s", name, out).isTrue();
        return m.group(1);
    }

    private static String sha256(byte[] data) throws NoSuchAlgorithmException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    }
}
