package io.jkvm.image;

import static org.assertj.core.api.Assertions.assertThat;

import io.jkvm.lab.Lab;
import io.jkvm.lab.LabResult;
import io.jkvm.labtests.LabClass;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Boots the default image as a real L2 guest (QEMU with KVM inside the lab) until jkvm's own VMM
 * can: once with {@code jkvm.demo}, once switching to an ext4 root on {@code /dev/vda}.
 */
@LabClass
class DefaultImageLabTest {
    @Test
    void bootsAndPrintsFactsAndSwitchesToAnExt4Root() throws Exception {
        var reason = Lab.availability();
        Assumptions.assumeTrue(reason.isEmpty(), () -> "lab tests skipped: " + reason.orElse(""));
        Path kernel = DefaultImage.defaultKernel().orElseThrow();
        Path image = DefaultImage.ensure(kernel);
        Path work = Files.createTempDirectory(Path.of("/tmp"), "jkvm-imgtest-");
        try {
            Path root = work.resolve("root");
            Files.createDirectories(root.resolve("bin"));
            Files.createDirectories(root.resolve("sbin"));
            Files.copy(Busybox.DEFAULT, root.resolve("bin/busybox"));
            Path init = root.resolve("sbin/init");
            Files.writeString(init, "#!/bin/busybox sh\n/bin/busybox echo rootfs-ok\n/bin/busybox poweroff -f\n");
            Files.setPosixFilePermissions(init, PosixFilePermissions.fromString("rwxr-xr-x"));
            Path disk = work.resolve("root.ext4");
            Process mk = new ProcessBuilder("mke2fs", "-q", "-t", "ext4", "-d", root.toString(), disk.toString(), "16M")
                    .redirectErrorStream(true).start();
            String mkOut = new String(mk.getInputStream().readAllBytes());
            Assumptions.assumeTrue(mk.waitFor() == 0, () -> "mke2fs -d failed: " + mkOut);

            String qemu = "qemu-system-x86_64 -enable-kvm -M pc -cpu host -m 256 -smp 2 -nodefaults"
                    + " -no-user-config -display none -serial stdio -no-reboot -kernel " + kernel
                    + " -initrd " + image;
            String script = qemu + " -append 'console=ttyS0 quiet jkvm.demo' && echo demo-done && "
                    + qemu + " -drive file=" + disk + ",format=raw,if=virtio -append 'console=ttyS0 quiet root=/dev/vda'";
            LabResult r = Lab.exec(List.of("sh", "-c", script),
                    io.jkvm.labtests.LabGuests.options().withWorkDir(work));
            assertThat(r.exitCode()).as("error %s; output %s; console:%n%s", r.error(), r.output(), r.console()).isZero();
            assertThat(r.stdout()).contains("jkvm-guest: up", "demo-done", "jkvm-guest: switch_root /dev/vda", "rootfs-ok");
            assertThat(r.stdout()).containsPattern("jkvm-guest: kernel=\\S+ cpus=2 mem_kb=\\d+ date=\\d{4}-\\d\\d-\\d\\dT");
        } finally {
            try (Stream<Path> s = Files.walk(work)) {
                for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }
}
