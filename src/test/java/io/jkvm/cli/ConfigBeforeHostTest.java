package io.jkvm.cli;

import io.jkvm.kvm.KvmDevice;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Unit: `jkvm run` checks its command line before the host. On a host without KVM (simulated
 * with the device setting) a bad flag is still reported as that flag, with exit 2; a good
 * command line then fails on KVM, naming the device and errno, with exit 1.
 */
class ConfigBeforeHostTest {
    @TempDir Path dir;

    @AfterEach
    void clearSetting() {
        System.clearProperty(KvmDevice.PROPERTY);
    }

    private record Outcome(int exit, String err) {}

    private Outcome run(String... args) {
        StringWriter err = new StringWriter();
        CommandLine cl = Cli.commandLine();
        cl.setErr(new PrintWriter(err, true));
        int exit = cl.execute(args);
        return new Outcome(exit, err.toString());
    }

    @Test
    void aMissingKernelIsReportedAsSuchOnAHostWithoutKvm() {
        Outcome o = run("--kvm-device", dir.resolve("no-kvm").toString(), "run", "--kernel", "/nonexistent");
        assertThat(o.exit()).isEqualTo(Cli.EXIT_USAGE);
        assertThat(o.err()).contains("--kernel /nonexistent: no such file").doesNotContain("KVM");
    }

    @Test
    void aBadMemorySizeIsReportedAsSuchOnAHostWithoutKvm() throws Exception {
        Path kernel = Files.write(dir.resolve("vmlinux"), new byte[] {0x7f, 'E', 'L', 'F'});
        Outcome o = run("--kvm-device", dir.resolve("no-kvm").toString(), "run", "--kernel", kernel.toString(), "--memory", "12X");
        assertThat(o.exit()).isEqualTo(Cli.EXIT_USAGE);
        assertThat(o.err()).contains("--memory 12X").doesNotContain("KVM");
    }

    @Test
    void aGoodCommandLineThenNamesTheKvmProblem() throws Exception {
        Path kernel = Files.write(dir.resolve("vmlinux"), new byte[] {0x7f, 'E', 'L', 'F'});
        Path missing = dir.resolve("no-kvm");
        Outcome o = run("--kvm-device", missing.toString(), "run", "--kernel", kernel.toString(), "--memory", "64M");
        assertThat(o.exit()).isEqualTo(Cli.EXIT_FAILURE);
        assertThat(o.err()).contains("cannot use KVM: open(" + missing + ")").contains("errno 2").contains("host-check");
    }

    @Test
    void badPlacementFlagsAreReportedAsSuchOnAHostWithoutKvm() throws Exception {
        Path kernel = Files.write(dir.resolve("vmlinux"), new byte[] {0x7f, 'E', 'L', 'F'});
        String noKvm = dir.resolve("no-kvm").toString();
        for (String[] flags : new String[][] {
                {"--vcpu-pin", "0=x"}, {"--vcpu-pin", "5=0"}, {"--vcpu-pin", "0"}, {"--vcpu-sched", "fifo:0"},
                {"--vmm-cpus", "3-1"}, {"--halt-poll-ns", "-5"}, {"--vcpu-pin", "0=" + (io.jkvm.kvm.Scheduling.MAX_CPUS - 1)},
                {"--cgroup", "memory"}, {"--cgroup", "tasks=1"}, {"--parent-cgroup", "../x"}, {"--parent-cgroup", "jkvm"},
                {"--uid", "0"}, {"--uid", "x"}}) {
            Outcome o = run("--kvm-device", noKvm, "run", "--kernel", kernel.toString(), "--cpus", "2", flags[0], flags[1]);
            assertThat(o.exit()).as(String.join(" ", flags)).isEqualTo(Cli.EXIT_USAGE);
            assertThat(o.err()).as(String.join(" ", flags)).contains(flags[0]).doesNotContain("KVM").doesNotContain("Exception");
            assertThat(o.err().strip().lines().count()).as(o.err()).isEqualTo(1);
        }
    }

    @Test
    void aBadVirtioTransportIsReportedAsSuchOnAHostWithoutKvm() throws Exception {
        Path kernel = Files.write(dir.resolve("vmlinux"), new byte[] {0x7f, 'E', 'L', 'F'});
        String noKvm = dir.resolve("no-kvm").toString();
        Outcome o = run("--kvm-device", noKvm, "run", "--kernel", kernel.toString(), "--virtio-transport", "isa");
        assertThat(o.exit()).isEqualTo(Cli.EXIT_USAGE);
        assertThat(o.err()).contains("--virtio-transport isa: must be pci or mmio").doesNotContain("KVM")
                .doesNotContain("Exception");
        assertThat(o.err().strip().lines().count()).as(o.err()).isEqualTo(1);

        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("--kvm-device", noKvm, "run", "--kernel",
                kernel.toString(), "--virtio-transport", "mmio", "--rng"));
        for (int i = 0; i < 16; i++) {
            args.add("--disk");
            args.add("path=" + dir.resolve("disk" + i));
        }
        Outcome many = run(args.toArray(String[]::new));
        assertThat(many.exit()).as(many.err()).isEqualTo(Cli.EXIT_USAGE);
        assertThat(many.err()).contains("--virtio-transport mmio: 17 virtio devices").contains("at most 16")
                .doesNotContain("KVM");
        assertThat(many.err().strip().lines().count()).as(many.err()).isEqualTo(1);
    }

    @Test
    void aGoodCommandLineWithMmioThenNamesTheKvmProblem() throws Exception {
        Path kernel = Files.write(dir.resolve("vmlinux"), new byte[] {0x7f, 'E', 'L', 'F'});
        Outcome o = run("--kvm-device", dir.resolve("no-kvm").toString(), "run", "--kernel", kernel.toString(),
                "--virtio-transport", "mmio", "--rng");
        assertThat(o.exit()).isEqualTo(Cli.EXIT_FAILURE);
        assertThat(o.err()).contains("cannot use KVM");
    }

    @Test
    void vmCreateChecksPlacementSyntaxButLeavesHostCpusToTheDaemonsHost() throws Exception {
        Path kernel = Files.write(dir.resolve("vmlinux"), new byte[] {0x7f, 'E', 'L', 'F'});
        String socket = dir.resolve("no-daemon.sock").toString();
        for (String[] flags : new String[][] {{"--vcpu-pin", "0=x"}, {"--vcpu-pin", "5=0"}, {"--vcpu-sched", "fifo:0"}, {"--cgroup", "tasks=1"}}) {
            Outcome o = run("vm", "create", "--socket", socket, "--kernel", kernel.toString(), "--cpus", "2", flags[0], flags[1], "vm1");
            assertThat(o.exit()).as(String.join(" ", flags)).isEqualTo(Cli.EXIT_USAGE);
            assertThat(o.err()).as(String.join(" ", flags)).contains(flags[0]).doesNotContain("Exception");
            assertThat(o.err().strip().lines().count()).as(o.err()).isEqualTo(1);
        }
        // A CPU this client may not use can be the daemon host's: the request goes on (here, to no daemon).
        String farCpu = String.valueOf(io.jkvm.kvm.Scheduling.MAX_CPUS - 1);
        Outcome o = run("vm", "create", "--socket", socket, "--kernel", kernel.toString(), "--vcpu-pin", "0=" + farCpu, "vm1");
        assertThat(o.exit()).as(o.err()).isEqualTo(DaemonClient.EXIT_NO_DAEMON);
        assertThat(o.err()).contains("cannot reach the jkvm daemon").doesNotContain("--vcpu-pin");
    }

    @Test
    void badDisplayFlagsAreReportedAsSuchOnAHostWithoutKvm() throws Exception {
        Path kernel = Files.write(dir.resolve("vmlinux"), new byte[] {0x7f, 'E', 'L', 'F'});
        String noKvm = dir.resolve("no-kvm").toString();
        for (String value : new String[] {"width=10", "vram=5M", "depth=8", "width=4000,height=4000"}) {
            Outcome o = run("--kvm-device", noKvm, "run", "--kernel", kernel.toString(), "--display", value);
            assertThat(o.exit()).as(value).isEqualTo(Cli.EXIT_USAGE);
            assertThat(o.err()).as(value).contains("--display").doesNotContain("KVM").doesNotContain("Exception");
            assertThat(o.err().strip().lines().count()).as(o.err()).isEqualTo(1);
        }
        Outcome ok = run("--kvm-device", noKvm, "run", "--kernel", kernel.toString(), "--display", "--memory", "64M");
        assertThat(ok.exit()).as(ok.err()).isEqualTo(Cli.EXIT_FAILURE);
        assertThat(ok.err()).contains("cannot use KVM");
    }

    @Test
    void badVncFlagsAreReportedAsSuchOnAHostWithoutKvm() throws Exception {
        Path kernel = Files.write(dir.resolve("vmlinux"), new byte[] {0x7f, 'E', 'L', 'F'});
        String noKvm = dir.resolve("no-kvm").toString();
        Path empty = Files.write(dir.resolve("empty-password"), new byte[0]);
        String[][] cases = {
            {"--vnc", dir.resolve("v.sock").toString()}, // no --display
            {"--display", "--vnc", "tcp=127.0.0.1:5901"}, // TCP without a password
            {"--display", "--vnc", "tcp=127.0.0.1:99999,password-file=" + empty},
            {"--display", "--vnc", "tcp=127.0.0.1:5901,password-file=" + empty},
            {"--display", "--vnc", "tcp=127.0.0.1:5901,password-file=" + dir.resolve("missing")},
            {"--display", "--vnc", "unix=/tmp/x,password-file=" + empty},
        };
        for (String[] c : cases) {
            List<String> args = new java.util.ArrayList<>(List.of("--kvm-device", noKvm, "run", "--kernel", kernel.toString()));
            args.addAll(List.of(c));
            Outcome o = run(args.toArray(String[]::new));
            assertThat(o.exit()).as(String.join(" ", c) + ": " + o.err()).isEqualTo(Cli.EXIT_USAGE);
            assertThat(o.err()).as(String.join(" ", c)).contains("--vnc").doesNotContain("KVM").doesNotContain("Exception");
            assertThat(o.err().strip().lines().count()).as(o.err()).isEqualTo(1);
        }
    }
}
