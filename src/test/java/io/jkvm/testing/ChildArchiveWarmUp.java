package io.jkvm.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Writes the children's dynamic CDS archive ({@link ChildJvm}) before the first test, from one
 * VMM that boots a small guest through a configuration file with its API served: the classes most
 * children load (the VMM, KVM bindings, a virtio device, the API server and JSON). A dynamic archive
 * is written once, by the first JVM to exit, and then only read. Left to the tests, that first JVM
 * was whichever child happened to exit first: in the lab, when it was a VMM that had changed to
 * a VM's own uid (VmIdentityDirectTest first in its lane), the next JVM stopped at start with
 * "Unrecoverable archive loading error" (3 of 3 runs, its retry too); the class passed wherever an
 * archive already existed. The warm-up takes about a minute of each lane's lab machine (59 and 66 s
 * measured) and pays some of it back: DaemonVmUidsDirectTest took 132 s after it, 187 s without
 * (one run each, the same two lanes).
 */
final class ChildArchiveWarmUp {
    /**
     * The longest the warm-up may take, whatever the lab's patience factor (it took about a
     * minute): it is an optimisation, and the tests wait for it.
     */
    private static final long LIMIT_SECONDS = 600;
    /** A line this often while it runs, so the lab's no-output watchdog (5 min) sees a live lane. */
    private static final long HEARTBEAT_SECONDS = 60;

    private ChildArchiveWarmUp() {}

    /**
     * Boots the guest in {@code dir}, for the archive at {@code archive}, and returns one line on
     * how it went. A failure is reported, not thrown: the tests still run, and the first of them to
     * exit writes the archive as before.
     */
    static String run(Path dir, Path archive) throws InterruptedException {
        try {
            return boot(dir, archive);
        } catch (IOException | RuntimeException e) {
            return "no warm-up: " + e;
        }
    }

    private static String boot(Path dir, Path archive) throws IOException, InterruptedException {
        Path disk = Files.write(dir.resolve("warm-up.img"), new byte[1 << 20]);
        Path config = TestKernels.rebootsAtOnceConfig(dir, "warm-up.json", """
                [{"drive_id": "warm", "path_on_host": "%s", "is_root_device": false, "is_read_only": false}]
                """.formatted(disk).strip());
        Path log = dir.resolve("warm-up.out");
        Process p = new ProcessBuilder(JkvmCommand.of("run", "--config-file", config.toString(),
                "--api-sock", dir.resolve("warm-up.sock").toString()))
                .redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        long waited = 0;
        while (!p.waitFor(HEARTBEAT_SECONDS, TimeUnit.SECONDS)) {
            waited += HEARTBEAT_SECONDS;
            if (waited >= LIMIT_SECONDS) {
                p.destroyForcibly().waitFor();
                // Killed, perhaps while writing the archive: a half-written one must not stay.
                Files.deleteIfExists(archive);
                return "the warm-up VMM did not exit in " + LIMIT_SECONDS + " s; stopped, no archive yet";
            }
            System.out.printf("tier: warm-up VMM still running (%d s)%n", waited);
        }
        String out = new String(Files.readAllBytes(log), StandardCharsets.UTF_8);
        if (p.exitValue() != 0 || !out.contains(TestKernels.UP)) {
            return "the warm-up VMM exited with " + p.exitValue() + ": " + out.strip().replace('\n', ' ');
        }
        if (!Files.isRegularFile(archive) || Files.size(archive) == 0) {
            return "the warm-up VMM ran but wrote no archive at " + archive;
        }
        return String.format(java.util.Locale.ROOT, "archive written by a warm-up VMM (%.1f MiB)",
                Files.size(archive) / 1048576.0);
    }
}
