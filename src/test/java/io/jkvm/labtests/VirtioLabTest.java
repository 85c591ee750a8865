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
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Lab: Linux on jkvm uses virtio devices for real. The guest boots with its root file system
 * on an ext4 virtio-blk disk, checks a file the test wrote, writes a new one, syncs and powers
 * off; the host then reads the new file back and e2fsck finds the file system clean. A second,
 * readonly disk refuses writes, and /dev/hwrng (virtio-rng) gives entropy. The guest boots with
 * {@code acpi=off}, as Kata's Firecracker guests do, so it learns its two CPUs and its interrupt
 * wiring from the MP table alone (io.jkvm.arch.x86.mptable).
 */
@LabClass
class VirtioLabTest {
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
            # Results go through the kernel log, which reaches the console at once: the reset at
            # the end would drop what still waits in the tty's buffer (seen: a line cut short).
            # The default initramfs quiets the console's log level; raise it for these lines.
            mount -t devtmpfs devtmpfs /dev 2>/dev/null
            dmesg -n 8
            say() { echo "disk-test: $*" > /dev/kmsg; }
            say "cpus=$(grep -c ^processor /proc/cpuinfo) acpi=$(ls /sys/firmware/acpi/tables 2>/dev/null | wc -l)"
            say "root=$(awk '$2=="/" {print $1 "," $3}' /proc/mounts | tail -n 1)"
            say "known=$(sha256sum /data/known.bin | cut -d' ' -f1)"
            head -c 262144 /dev/urandom > /data/new.bin
            say "new=$(sha256sum /data/new.bin | cut -d' ' -f1)"
            sync
            if dd if=/dev/zero of=/dev/vdb bs=512 count=1 conv=fsync 2>/dev/null; then r=accepted; else r=refused; fi
            say "ro-write=$r ro-flag=$(cat /sys/block/vdb/ro)"
            say "hwrng=$(cat /sys/class/misc/hw_random/rng_current) bytes=$(dd if=/dev/hwrng bs=32 count=1 2>/dev/null | wc -c)"
            say "done"
            # Without ACPI there is no power-off: the guest leaves by a keyboard-controller reset
            # (reboot=k), which ends the VMM (--on-reboot exit). Through sysrq, which resets at
            # once: `reboot -f` was seen to stall before the kernel's device shutdown began with
            # acpi=off (both vCPUs idle, no "shutdown" line under initcall_debug), not understood yet.
            echo b > /proc/sysrq-trigger
            """;

    @Test
    void ext4RootOnVirtioBlkSurvivesWritesReadonlyDiskRefusesThemAndHwrngWorks(@TempDir Path dir) throws Exception {
        // The root file system: busybox, an init script, and a file whose digest the test knows.
        Path tree = Files.createDirectories(dir.resolve("tree"));
        for (String d : List.of("bin", "sbin", "data", "dev", "proc", "sys", "run", "tmp")) {
            Files.createDirectories(tree.resolve(d));
        }
        Files.copy(Path.of("/bin/busybox"), tree.resolve("bin/busybox"));
        Path init = Files.writeString(tree.resolve("sbin/init"), GUEST_INIT);
        Files.setPosixFilePermissions(init, PosixFilePermissions.fromString("rwxr-xr-x"));
        byte[] known = new byte[1 << 20];
        new Random(42).nextBytes(known);
        Files.write(tree.resolve("data/known.bin"), known);
        Path root = dir.resolve("root.ext4");
        run("/sbin/mke2fs", "-q", "-F", "-t", "ext4", "-d", tree.toString(), root.toString(), "64M");
        Path ro = dir.resolve("readonly.img");
        Files.write(ro, new byte[1 << 20]);

        String cmd = JkvmCommand.shell("run", "--kernel", kernel.toString(), "--initrd", initrd.toString(),
                "--cpus", "2", "--memory", "512M", "--rng",
                "--disk", "path=" + root + ",id=root", "--disk", "path=" + ro + ",readonly=on,id=ro",
                "--cmdline", LabGuests.BOOT_ARGS + " acpi=off root=/dev/vda init=/sbin/init");
        LabResult r = Lab.exec(List.of("sh", "-c", cmd + " </dev/null"),
                LabGuests.options());
        String out = r.stdout();
        assertThat(r.labFailed()).as(r.error() + "\n--- stdout ---\n" + r.stdout() + "\n--- stderr ---\n" + r.stderr() + "\n--- L1 console ---\n" + r.console()).isFalse();
        assertThat(out).as(out + r.stderr()).contains("disk-test: done");
        assertThat(r.exitCode()).as(r.stderr()).isZero();

        assertThat(out).as("both vCPUs found through the MP table, no ACPI tables read").contains("disk-test: cpus=2 acpi=0");
        assertThat(out).contains("disk-test: root=/dev/vda,ext4");
        assertThat(field(out, "known")).isEqualTo(sha256(known));
        assertThat(out).contains("disk-test: ro-write=refused ro-flag=1");
        assertThat(out).containsPattern("disk-test: hwrng=virtio_rng\\.\\d+ bytes=32");

        // The host finds the guest's file intact and the file system clean.
        Path back = dir.resolve("new.bin");
        run("/sbin/debugfs", "-R", "dump /data/new.bin " + back, root.toString());
        assertThat(sha256(Files.readAllBytes(back))).isEqualTo(field(out, "new"));
        assertThat(run("/sbin/e2fsck", "-fn", root.toString())).isZero();
        assertThat(Files.readAllBytes(ro)).containsOnly(0);
    }

    private static String field(String out, String name) {
        Matcher m = Pattern.compile("disk-test: " + name + "=([0-9a-f]{64})").matcher(out);
        assertThat(m.find()).as("%s in %s", name, out).isTrue();
        return m.group(1);
    }

    private static String sha256(byte[] data) throws NoSuchAlgorithmException {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
    }

    private static int run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String output = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).as(String.join(" ", cmd)).isTrue();
        if (!cmd[0].endsWith("e2fsck")) {
            assertThat(p.exitValue()).as(String.join(" ", cmd) + ": " + output).isZero();
        }
        return p.exitValue();
    }
}
