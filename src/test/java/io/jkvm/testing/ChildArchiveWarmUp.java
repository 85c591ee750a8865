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
    private ChildArchiveWarmUp() {}

    /**
     * Boots the guest in {@code dir} and returns one line on how it went. A failure is reported,
     * not thrown: the tests still run, and the first of them to exit writes the archive as before.
     */
    static String run(Path dir) throws IOException, InterruptedException {
        Path kernel = TestKernels.rebootsAtOnce(dir);
        Path disk = Files.write(dir.resolve("warm-up.img"), new byte[1 << 20]);
        Path config = Files.writeString(dir.resolve("warm-up.json"), """
                {
                  "boot-source": {"kernel_image_path": "%s", "boot_args": "console=ttyS0 reboot=k panic=1"},
                  "machine-config": {"vcpu_count": 1, "mem_size_mib": 32, "smt": false},
                  "drives": [{"drive_id": "warm", "path_on_host": "%s", "is_root_device": false, "is_read_only": false}],
                  "network-interfaces": []
                }
                """.formatted(kernel, disk));
        Path log = dir.resolve("warm-up.out");
        Process p = new ProcessBuilder(JkvmCommand.of("run", "--config-file", config.toString(),
                "--api-sock", dir.resolve("warm-up.sock").toString()))
                .redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        if (!p.waitFor(Patience.secondsOf(120), TimeUnit.SECONDS)) {
            p.destroyForcibly().waitFor();
            return "the warm-up VMM did not exit in " + Patience.secondsOf(120) + " s";
        }
        String out = Files.readString(log, StandardCharsets.UTF_8);
        if (p.exitValue() != 0 || !out.contains(TestKernels.UP)) {
            return "the warm-up VMM exited with " + p.exitValue() + ": " + out.strip().replace('\n', ' ');
        }
        return "archive written by a warm-up VMM";
    }
}
