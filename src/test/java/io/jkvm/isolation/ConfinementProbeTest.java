package io.jkvm.isolation;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Confinement applied to a child JVM ({@link ConfinedProbe}), never to the test JVM: what
 * seccomp kills, what it only logs, what Landlock lets a confined thread open, and that the JVM
 * keeps working (GC, threads, JIT) once confined.
 */
class ConfinementProbeTest {
    /** Exit status of a process killed by SIGSYS (31), as a shell and ProcessHandle report it. */
    private static final int KILLED_BY_SIGSYS = 128 + 31;

    record Run(int status, String out, String err) {}

    static Run probe(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.add("-XX:+UseSerialGC");
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(ConfinedProbe.class.getName());
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).start();
        p.getOutputStream().close();
        var out = p.getInputStream().readAllBytes();
        var err = p.getErrorStream().readAllBytes();
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).as("the probe ends").isTrue();
        // Java reports a signal death as 128 + signal, like a shell.
        return new Run(p.exitValue(), new String(out, StandardCharsets.UTF_8), new String(err, StandardCharsets.UTF_8));
    }

    /** Landlock here, and able to hold rules on the JDK, the class path and {@code dir} (not so on the lab's 9p). */
    static void assumeLandlock(Path dir) {
        LandlockAbi.Probe p = LandlockAbi.probe();
        Assumptions.assumeTrue(p.available(), () -> "this kernel has no Landlock: " + p.unavailable());
        String unreliable = FileSystems.landlockUnreliable(new LandlockPolicy(JvmPaths.rules()));
        if (unreliable == null) {
            unreliable = FileSystems.landlockUnreliable(dir);
        }
        String why = unreliable;
        Assumptions.assumeTrue(why == null, () -> "Landlock cannot confine this test's files: " + why);
    }

    @Test
    void seccompOnKillsExecveWithSigsysAndStatusShowsTheFilter() throws Exception {
        Run r = probe("--seccomp", "on", "--landlock", "off", "status", "execve:/bin/true", "status");
        assertThat(r.out()).contains("confined seccomp=on landlock=off")
                .contains("process.Seccomp:2").contains("process.NoNewPrivs:1")
                .contains("thread.Seccomp:2").contains("thread.NoNewPrivs:1")
                .doesNotContain("execve /bin/true returned");
        assertThat(r.status()).as("killed by SIGSYS; stderr: %s", r.err()).isEqualTo(KILLED_BY_SIGSYS);
    }

    @Test
    void seccompLogLetsExecveRun() throws Exception {
        // /bin/true replaces the probe: its exit status 0 is the proof execve ran.
        Run r = probe("--seccomp", "log", "--landlock", "off", "execve:/bin/true", "status");
        assertThat(r.out()).contains("confined seccomp=log").doesNotContain("status");
        assertThat(r.status()).as("stderr: %s", r.err()).isZero();
    }

    @Test
    void seccompOnKillsPtrace() throws Exception {
        Run r = probe("--seccomp", "on", "--landlock", "off", "ptrace");
        assertThat(r.out()).contains("confined seccomp=on").doesNotContain("ptrace ");
        assertThat(r.status()).isEqualTo(KILLED_BY_SIGSYS);
    }

    @Test
    void seccompOffLeavesPtraceAlone() throws Exception {
        Run r = probe("--seccomp", "off", "--landlock", "off", "ptrace", "status");
        assertThat(r.out()).contains("ptrace errno 3").contains("process.Seccomp:0");
        assertThat(r.status()).isZero();
    }

    @Test
    void seccompOnKillsACloneThatMakesAProcess() throws Exception {
        Run r = probe("--seccomp", "on", "--landlock", "off", "clone-process");
        assertThat(r.out()).contains("confined seccomp=on").doesNotContain("clone ");
        assertThat(r.status()).isEqualTo(KILLED_BY_SIGSYS);
    }

    /** KVM_GET_API_VERSION (_IO(KVMIO, 0x00)), TUNSETOFFLOAD, FS_IOC_GETFLAGS (_IOR('f', 1, long)). */
    static final String KVM_IOCTL = "0xAE00", TUN_IOCTL = "0x400454d0", FS_IOCTL = "0x80086601";

    @Test
    void aVcpuThreadMayMakeKvmAndTunIoctls() throws Exception {
        Run r = probe("--seccomp", "on", "--landlock", "off", "vcpu-thread:ioctl=" + KVM_IOCTL, "vcpu-thread:ioctl=" + TUN_IOCTL);
        // Two filters on the vCPU thread: the process's (inherited) and its own; the calls reach the kernel (EBADF).
        assertThat(r.out()).contains("vcpu filter installed Seccomp_filters:2")
                .contains("vcpu ioctl " + KVM_IOCTL + " errno 9").contains("vcpu ioctl " + TUN_IOCTL + " errno 9");
        assertThat(r.status()).as("stderr: %s", r.err()).isZero();
    }

    @Test
    void aVcpuThreadIsKilledForAnyOtherIoctlWhileOtherThreadsMayMakeIt() throws Exception {
        Run r = probe("--seccomp", "on", "--landlock", "off", "ioctl:" + FS_IOCTL, "vcpu-thread:ioctl=" + FS_IOCTL);
        assertThat(r.out()).contains("ioctl " + FS_IOCTL + " errno 9").contains("vcpu filter installed")
                .doesNotContain("vcpu ioctl");
        assertThat(r.status()).as("killed by SIGSYS; stderr: %s", r.err()).isEqualTo(KILLED_BY_SIGSYS);
    }

    @Test
    void aVcpuThreadIsKilledForMakingASocket() throws Exception {
        Run r = probe("--seccomp", "on", "--landlock", "off", "vcpu-thread:socket");
        assertThat(r.out()).contains("vcpu filter installed").doesNotContain("vcpu socket");
        assertThat(r.status()).as("killed by SIGSYS; stderr: %s", r.err()).isEqualTo(KILLED_BY_SIGSYS);
    }

    @Test
    void withSeccompLogAVcpuThreadsForbiddenCallsRun() throws Exception {
        Run r = probe("--seccomp", "log", "--landlock", "off", "vcpu-thread:ioctl=" + FS_IOCTL, "vcpu-thread:socket");
        assertThat(r.out()).contains("vcpu ioctl " + FS_IOCTL + " errno 9").containsPattern("vcpu socket returned \\d+");
        assertThat(r.status()).as("stderr: %s", r.err()).isZero();
    }

    @Test
    void withSeccompOffAVcpuThreadInstallsNothing() throws Exception {
        Run r = probe("--seccomp", "off", "--landlock", "off", "vcpu-thread:socket");
        assertThat(r.out()).contains("vcpu filter installed Seccomp_filters:0").containsPattern("vcpu socket returned \\d+");
        assertThat(r.status()).isZero();
    }

    @Test
    void theJvmKeepsWorkingUnderLoadWhenConfined() throws Exception {
        Run r = probe("--seccomp", "on", "--landlock", "auto", "load", "status");
        assertThat(r.out()).contains("load ok threads=16 counted=16").contains("process.Seccomp:2");
        assertThat(r.status()).as("stderr: %s", r.err()).isZero();
    }

    @Test
    void landlockDeniesOpensOutsideThePolicyAndAllowsThoseInside(@TempDir Path dir) throws Exception {
        assumeLandlock(dir);
        Path inside = Files.createDirectories(dir.resolve("inside"));
        Path outside = Files.createDirectories(dir.resolve("outside"));
        Files.writeString(inside.resolve("a"), "a");
        Files.writeString(outside.resolve("b"), "b");
        Run r = probe("--seccomp", "off", "--landlock", "on", "--allow", inside.toString(),
                "open:" + inside.resolve("a"), "open:" + outside.resolve("b"),
                "create:" + inside.resolve("new"), "create:" + outside.resolve("new"), "load");
        assertThat(r.out()).contains("landlock=on (ABI ")
                .contains("open " + inside.resolve("a") + " ok")
                .contains("open " + outside.resolve("b") + " EACCES")
                .contains("create " + inside.resolve("new") + " ok")
                .contains("create " + outside.resolve("new") + " EACCES")
                .contains("load ok");
        assertThat(r.status()).as("stderr: %s", r.err()).isZero();
        assertThat(outside.resolve("new")).doesNotExist();
    }

    @Test
    void landlockAndSeccompTogether(@TempDir Path dir) throws Exception {
        assumeLandlock(dir);
        Path inside = Files.createDirectories(dir.resolve("inside"));
        Files.writeString(inside.resolve("a"), "a");
        Path outside = Files.writeString(dir.resolve("b"), "b");
        Run r = probe("--seccomp", "on", "--landlock", "on", "--allow", inside.toString(), "open:" + inside.resolve("a"),
                "open:" + outside, "load", "status");
        assertThat(r.out()).contains("open " + inside.resolve("a") + " ok").contains("open " + outside + " EACCES")
                .contains("load ok").contains("process.Seccomp:2");
        assertThat(r.status()).as("stderr: %s", r.err()).isZero();
    }

    @Test
    void landlockAutoOnAKernelWithoutItSaysSoAndGoesOnWithSeccomp(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("a"), "a");
        Run r = probe("--seccomp", "on", "--landlock", "auto", "--kernel-without-landlock", "open:" + dir.resolve("a"),
                "load", "status");
        assertThat(r.out()).contains("landlock=unavailable: the kernel was built without Landlock (played)")
                .contains("open " + dir.resolve("a") + " ok").contains("load ok").contains("process.Seccomp:2");
        assertThat(r.status()).as("stderr: %s", r.err()).isZero();
    }
}
