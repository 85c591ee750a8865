package io.jkvm.isolation;

import io.jkvm.image.JkvmHome;
import io.jkvm.kvm.Native;
import io.jkvm.testing.JkvmCommand;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.Patience;
import io.jkvm.testing.PidsCgroup;
import io.jkvm.testing.TestKernels;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Direct KVM: a VM started through {@code jkvm jailer} as Kata and firecracker-containerd start
 * Firecracker (files hard-linked or copied into the jail, {@code --config-file} relative to it)
 * runs, and its VMM is confined while the guest runs: seccomp filter mode, no_new_privs, the
 * VM's own user with no capability, pid 1 of its own PID namespace, in its cgroup.
 */
@Tag("kvm")
class JailDirectTest {
    private static final int VM_UID = 4344;

    @Test
    void aJailedVmRunsConfinedAsItsOwnUser() throws Exception {
        KvmAvailable.assume();
        Assumptions.assumeTrue(Native.geteuid() == 0, "the jailer makes namespaces, mounts and device nodes: root only");
        // java.io.tmpdir: in the lab the tier points it at a tmpfs (its /tmp is the host's 9p share).
        Path base = Files.createTempDirectory("jails-", PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("rwxr-xr-x")));
        String id = "jail-direct-" + ProcessHandle.current().pid();
        // The lab's machines mount no cgroup file system: there the jail goes without a cgroup
        // (JailTest puts one in a cgroup on the host).
        PidsCgroup pids = PidsCgroup.find().orElse(null);
        if (pids == null) {
            System.err.println("JailDirectTest: no pids cgroup hierarchy on this machine: the jailed VM runs without --cgroup");
        }
        long vmm = -1;
        try {
            Path root = Files.createDirectories(base.resolve("firecracker").resolve(id).resolve("root"));
            Path kernel = TestKernels.halting(root);
            Files.setPosixFilePermissions(kernel, PosixFilePermissions.fromString("rw-r--r--"));
            Files.writeString(root.resolve("vm.json"), """
                    {
                      "boot-source": {"kernel_image_path": "/%s", "boot_args": "console=ttyS0"},
                      "machine-config": {"vcpu_count": 1, "mem_size_mib": 32, "smt": false}
                    }
                    """.formatted(kernel.getFileName()));
            Path log = base.resolve("vmm.log");
            List<String> args = new ArrayList<>(List.of("jailer", "--id", id, "--exec-file",
                    JkvmHome.get().resolve("bin/firecracker").toString(), "--uid", String.valueOf(VM_UID), "--gid",
                    String.valueOf(VM_UID), "--chroot-base-dir", base.toString(), "--new-pid-ns"));
            if (pids != null) {
                args.addAll(List.of("--cgroup-version", String.valueOf(pids.version()), "--cgroup", "pids.max=300"));
            }
            args.addAll(List.of("--", "--no-api", "--config-file", "/vm.json"));
            ProcessBuilder pb = new ProcessBuilder(JkvmCommand.of(args.toArray(String[]::new)))
                    .redirectErrorStream(true).redirectOutput(log.toFile());
            pb.environment().put("JKVM_HOME", JkvmHome.get().toString());
            Process jailer = pb.start();
            assertThat(jailer.waitFor(Patience.secondsOf(120), TimeUnit.SECONDS)).isTrue();
            assertThat(jailer.exitValue()).as(Files.readString(log)).isZero();
            vmm = Long.parseLong(Files.readString(root.resolve("firecracker.pid")).strip());
            awaitGuest(vmm, log);

            String status = Files.readString(Path.of("/proc", String.valueOf(vmm), "status"));
            assertThat(status).contains("Seccomp:\t2").contains("NoNewPrivs:\t1").contains("CapEff:\t0000000000000000")
                    .contains("Uid:\t" + VM_UID + "\t" + VM_UID + "\t" + VM_UID + "\t" + VM_UID + "\n")
                    .contains("NSpid:\t" + vmm + "\t1\n");
            if (pids != null) {
                assertThat(Files.readString(Path.of("/proc", String.valueOf(vmm), "cgroup"))).contains(pids.membership("firecracker", id));
                assertThat(Files.readString(pids.dir("firecracker", id).resolve("pids.max")).strip()).isEqualTo("300");
            }
            assertThat(Path.of("/proc", String.valueOf(vmm), "root", "etc")).doesNotExist();
        } finally {
            JailCleanup.after(vmm, pids, id, base);
        }
    }

    /** Until the guest's first line, while the VMM lives, within a bound. */
    private static void awaitGuest(long pid, Path log) throws IOException {
        ProcessHandle vmm = ProcessHandle.of(pid).orElseThrow();
        long deadline = System.nanoTime() + Patience.of(Duration.ofSeconds(120)).toNanos();
        while (!Files.readString(log).contains(TestKernels.UP)) {
            assertThat(vmm.isAlive()).as("the jailed VMM lives: " + Files.readString(log)).isTrue();
            assertThat(System.nanoTime()).as("the guest's first line in time: " + Files.readString(log)).isLessThan(deadline);
            vmm.onExit().completeOnTimeout(null, 50, TimeUnit.MILLISECONDS).join(); // wakes early if the VMM dies
        }
    }
}
