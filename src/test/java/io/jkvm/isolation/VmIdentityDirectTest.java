package io.jkvm.isolation;

import io.jkvm.kvm.Native;
import io.jkvm.testing.JkvmCommand;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.Patience;
import io.jkvm.testing.TestKernels;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Direct KVM: {@code jkvm run --uid --gid} leaves root before its devices open their files: a VM
 * boots from a disk its own user owns, and a disk only root may open stops the start naming it.
 */
@Tag("kvm")
class VmIdentityDirectTest {
    private static final int VM_UID = 4242;

    /**
     * Under /dev/shm (a tmpfs everywhere; in the lab /tmp is 9p), not the test's temporary
     * directory: the VM's user must pass through every directory above its files.
     */
    private Path dir;

    private record Run(int exit, String out) {}

    private Run run(Path kernel, Path disk) throws Exception {
        List<String> cmd = new ArrayList<>(JkvmCommand.of("run", "--kernel", kernel.toString(), "--memory", "32M",
                "--disk", "path=" + disk, "--uid", String.valueOf(VM_UID), "--gid", String.valueOf(VM_UID)));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(Patience.secondsOf(60), TimeUnit.SECONDS)).isTrue();
        return new Run(p.exitValue(), out);
    }

    @Test
    void theVmmOpensItsDisksAsTheVmsUser() throws Exception {
        KvmAvailable.assume();
        Assumptions.assumeTrue(Native.geteuid() == 0, "--uid needs a VMM started as root; this test runs as another user");
        dir = Files.createTempDirectory(Path.of("/dev/shm"), "jkvm-uid-", PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("rwxr-xr-x")));
        try {
            bootAsTheVmsUser();
        } finally {
            try (var files = Files.list(dir)) {
                for (Path f : files.toList()) {
                    Files.delete(f);
                }
            }
            Files.delete(dir);
        }
    }

    private void bootAsTheVmsUser() throws Exception {
        // The VM's user reads the kernel (loaded after the change) through this directory.
        Path kernel = TestKernels.rebootsAtOnce(dir);
        Files.setPosixFilePermissions(kernel, PosixFilePermissions.fromString("rw-r--r--"));

        Path own = dir.resolve("own.img");
        Files.write(own, new byte[1 << 20]);
        Files.setPosixFilePermissions(own, PosixFilePermissions.fromString("rw-------"));
        Files.setAttribute(own, "unix:uid", VM_UID);
        Files.setAttribute(own, "unix:gid", VM_UID);
        Run ok = run(kernel, own);
        assertThat(ok.exit()).as(ok.out()).isZero();
        assertThat(ok.out()).contains(TestKernels.UP);

        Path rootOnly = dir.resolve("root-only.img");
        Files.write(rootOnly, new byte[1 << 20]);
        Files.setPosixFilePermissions(rootOnly, PosixFilePermissions.fromString("rw-------"));
        Run refused = run(kernel, rootOnly);
        assertThat(refused.exit()).as(refused.out()).isNotZero();
        assertThat(refused.out()).contains("root-only.img").contains("as --uid " + VM_UID).doesNotContain(TestKernels.UP);
    }
}
