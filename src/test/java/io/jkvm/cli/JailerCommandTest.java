package io.jkvm.cli;

import io.jkvm.isolation.JailerConfig;
import io.jkvm.resources.CgroupSetting;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** {@code jkvm jailer}'s command line: Firecracker's jailer flags as tools write them, and one line per mistake. */
class JailerCommandTest {
    @TempDir Path dir;

    private JailerConfig config(String... args) {
        JailerCommand c = new JailerCommand();
        new CommandLine(c).parseArgs(args);
        return c.config();
    }

    private List<String> line(String... extra) throws Exception {
        Path exec = dir.resolve("firecracker");
        if (!Files.exists(exec)) {
            Files.createFile(exec);
        }
        List<String> args = new ArrayList<>(List.of("--id", "551e7604-e35c-42b3-b825-416853441234", "--exec-file",
                exec.toString(), "--uid", "123", "--gid", "100"));
        args.addAll(List.of(extra));
        return args;
    }

    @Test
    void katasArgumentLineGivesFirecrackersLayout() throws Exception {
        // What Kata's firecracker driver writes: id, exec file, ids, base, --daemonize, a netns, then -- and the VMM's flags.
        Path netns = Files.createFile(dir.resolve("netns"));
        JailerConfig c = config(line("--chroot-base-dir", "/run/kata/jailer", "--daemonize", "--netns", netns.toString(),
                "--", "--config-file", "fcConfig.json").toArray(String[]::new));
        assertThat(c.jailRoot()).isEqualTo(Path.of("/run/kata/jailer/firecracker/551e7604-e35c-42b3-b825-416853441234/root"));
        assertThat(c.pidFile()).isEqualTo(c.jailRoot().resolve("firecracker.pid"));
        assertThat(c.daemonize()).isTrue();
        assertThat(c.newPidNs()).isFalse();
        assertThat(c.netns()).isEqualTo(netns);
        assertThat(c.vmmArgs()).containsExactly("--config-file", "fcConfig.json");
        assertThat(c.uid()).isEqualTo(123);
        assertThat(c.gid()).isEqualTo(100);
    }

    @Test
    void olderJailerFlagsThatKataStillPassesAreHonoured() throws Exception {
        // Kata's driver passes --node 0 and --uid 0 --gid 0 (and its older releases --seccomp-level).
        JailerConfig c = config("--id", "kata-1", "--node", "0", "--seccomp-level", "0", "--exec-file",
                line().get(3), "--uid", "0", "--gid", "0", "--chroot-base-dir", "/run/kata/jailer", "--daemonize",
                "--", "--config-file", "fcConfig.json");
        String cpus = Files.readString(Path.of("/sys/devices/system/node/node0/cpulist")).strip();
        assertThat(c.cgroups()).containsExactly(new CgroupSetting("cpuset.mems", "0"), new CgroupSetting("cpuset.cpus", cpus));
        assertThat(c.vmmArgs()).containsExactly("--seccomp", "off", "--config-file", "fcConfig.json");
        assertThat(c.uid()).isZero();
        assertThatThrownBy(() -> config(line("--node", "4096").toArray(String[]::new)))
                .isInstanceOf(UserError.class).hasMessageContaining("--node 4096: no NUMA node 4096");
        assertThatThrownBy(() -> config(line("--seccomp-level", "3").toArray(String[]::new)))
                .isInstanceOf(UserError.class).hasMessageContaining("--seccomp-level 3");
    }

    @Test
    void defaultsAreFirecrackersAndEveryOptionalFlagIsTaken() throws Exception {
        JailerConfig plain = config(line().toArray(String[]::new));
        assertThat(plain.chrootBase()).isEqualTo(Path.of("/srv/jailer"));
        assertThat(plain.openFiles()).isEqualTo(2048);
        assertThat(plain.fileSizeLimit()).isNull();
        assertThat(plain.cgroupVersion()).isEqualTo(1);
        assertThat(plain.cgroupParent()).isEqualTo("firecracker");

        JailerConfig c = config(line("--cgroup-version", "2", "--cgroup", "cpu.max=50000 100000", "--cgroup",
                "pids.max=64", "--parent-cgroup", "all_uvms/external", "--resource-limit", "fsize=250000000",
                "--resource-limit", "no-file=1024", "--new-pid-ns").toArray(String[]::new));
        assertThat(c.cgroupVersion()).isEqualTo(2);
        assertThat(c.cgroups()).containsExactly(new CgroupSetting("cpu.max", "50000 100000"), new CgroupSetting("pids.max", "64"));
        assertThat(c.cgroupParent()).isEqualTo("all_uvms/external");
        assertThat(c.fileSizeLimit()).isEqualTo(250_000_000L);
        assertThat(c.openFiles()).isEqualTo(1024);
        assertThat(c.newPidNs()).isTrue();
    }

    @Test
    void eachMistakeIsOneLineNamingItsFlag() throws Exception {
        List<String> ok = line();
        record Case(String flag, String value, String says) {}
        for (Case k : List.of(
                new Case("--id", "no spaces", "--id 'no spaces'"),
                new Case("--id", "x".repeat(65), "1 to 64"),
                new Case("--uid", "-1", "--uid -1"),
                new Case("--uid", "0", "both 0"),
                new Case("--gid", "4294967296", "--gid 4294967296"),
                new Case("--chroot-base-dir", "relative/dir", "--chroot-base-dir relative/dir"),
                new Case("--chroot-base-dir", "/srv/../etc", "without '.' or '..'"),
                new Case("--netns", "/nonexistent/netns", "--netns /nonexistent/netns"),
                new Case("--cgroup-version", "3", "--cgroup-version 3"),
                new Case("--cgroup", "memory.limit_in_bytes", "--cgroup memory.limit_in_bytes"),
                new Case("--cgroup", "cgroup.procs=1", "membership files"),
                new Case("--parent-cgroup", "../escape", "--parent-cgroup ../escape"),
                new Case("--resource-limit", "stack=1", "unknown resource 'stack'"),
                new Case("--resource-limit", "no-file=ten", "--resource-limit no-file=ten"),
                new Case("--resource-limit", "no-file=16", "the VMM's JVM"),
                new Case("--resource-limit", "fsize=0", "--resource-limit fsize=0"))) {
            List<String> args = new ArrayList<>(ok);
            int at = args.indexOf(k.flag());
            if (at >= 0) {
                args.set(at + 1, k.value());
            } else {
                args.addAll(List.of(k.flag(), k.value()));
            }
            assertThatThrownBy(() -> config(args.toArray(String[]::new))).as(k.flag() + " " + k.value())
                    .isInstanceOf(UserError.class).hasMessageContaining(k.says()).message().doesNotContain("\n");
        }
    }

    @Test
    void theExecFileMustBeNamedFirecrackerAndBeJkvmsLauncher() throws Exception {
        Path other = Files.createFile(dir.resolve("qemu-system-x86_64"));
        assertThatThrownBy(() -> config("--id", "a", "--exec-file", other.toString(), "--uid", "1", "--gid", "1"))
                .isInstanceOf(UserError.class).hasMessageContaining("must contain 'firecracker'");
        assertThatThrownBy(() -> config("--id", "a", "--exec-file", "firecracker", "--uid", "1", "--gid", "1"))
                .isInstanceOf(UserError.class).hasMessageContaining("absolute path");
        // A file named firecracker that is not jkvm's launcher (a real Firecracker binary, say) is refused, not run.
        Path lookalike = Files.createFile(dir.resolve("bin-firecracker"));
        assertThatThrownBy(() -> JailerCommand.requireJkvmLauncher(lookalike))
                .isInstanceOf(UserError.class).hasMessageContaining("not jkvm's VMM launcher");
        JailerCommand.requireJkvmLauncher(JailerCommand.jkvmHome().resolve("bin/firecracker"));
        Path link = Files.createSymbolicLink(dir.resolve("firecracker-link"), JailerCommand.jkvmHome().resolve("bin/firecracker"));
        JailerCommand.requireJkvmLauncher(link);
    }

    @Test
    void theVmmGetsTheJailersIdStartMarksAndForwardedFlagsAndItsJvmItsRuntime() throws Exception {
        JailerConfig c = config(line("--", "--api-sock", "/run/fc.sock").toArray(String[]::new));
        var vmm = JailerCommand.vmm(c, 7, 3);
        assertThat(vmm.program()).isEqualTo(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        assertThat(vmm.argv()).first().isEqualTo(vmm.program());
        assertThat(vmm.argv()).containsSubsequence(Main.class.getName(), "firecracker",
                "--id=551e7604-e35c-42b3-b825-416853441234", "--start-time-us=7", "--start-time-cpu-us=3",
                "--api-sock", "/run/fc.sock");
        assertThat(vmm.argv().subList(vmm.argv().size() - 2, vmm.argv().size())).containsExactly("--api-sock", "/run/fc.sock");
        assertThat(vmm.needs()).contains(Path.of(System.getProperty("java.home")));
    }
}
