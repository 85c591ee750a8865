package io.jkvm.labtests;

import io.jkvm.lab.Lab;
import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** What the lab tests share: skipping visibly, an ext4 root whose /sbin/init is a script, host commands. */
final class LabGuests {
    private LabGuests() {}

    /** Skips (with the reason) unless the lab runs here and every e2fsprogs tool named is installed. */
    static void assumeLab(String... e2fsprogs) {
        var reason = Lab.availability();
        Assumptions.assumeTrue(reason.isEmpty(), () -> "lab tests skipped: " + reason.orElse(""));
        for (String tool : e2fsprogs) {
            Assumptions.assumeTrue(Files.isExecutable(Path.of("/sbin", tool)), "e2fsprogs (" + tool + ") not installed");
        }
    }

    /**
     * {@code dir/root.ext4} of {@code size} (mke2fs syntax): the host's static busybox as /bin/busybox
     * and {@code init} as /sbin/init, plus whatever {@code dir/tree} already holds.
     */
    static Path ext4WithInit(Path dir, String init, String size) throws IOException, InterruptedException {
        Path tree = Files.createDirectories(dir.resolve("tree"));
        for (String d : List.of("bin", "sbin", "dev", "proc", "sys", "run", "tmp")) {
            Files.createDirectories(tree.resolve(d));
        }
        Files.copy(Path.of("/bin/busybox"), tree.resolve("bin/busybox"));
        Path script = Files.writeString(tree.resolve("sbin/init"), init);
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwxr-xr-x"));
        Path disk = dir.resolve("root.ext4");
        host("/sbin/mke2fs", "-q", "-F", "-t", "ext4", "-d", tree.toString(), disk.toString(), size);
        return disk;
    }

    /** Runs a host command to completion (60 s at most), asserting success; returns its output. */
    static String host(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(60, TimeUnit.SECONDS) && p.exitValue() == 0).as(String.join(" ", cmd) + ": " + out).isTrue();
        return out;
    }
}
