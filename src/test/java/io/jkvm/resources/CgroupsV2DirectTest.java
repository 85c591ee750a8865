package io.jkvm.resources;

import io.jkvm.kvm.Native;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A VM's cgroup on a host whose controllers are in the unified (v2) hierarchy, as on most hosts
 * today: {@code jkvm run --cgroup} and the daemon's {@code tuning.cgroup} put the VMM in
 * {@code <v2>/jkvm/jkvm-<id>}. This project's hosts bind every controller to v1 (their v2 mount
 * offers none), so the test runs in the direct tier, which on such hosts runs inside the lab:
 * its machines mount no cgroup file system, and this test mounts cgroup2 at /sys/fs/cgroup for
 * its run (every controller is then v2's) and unmounts it after.
 */
@Tag("kvm")
class CgroupsV2DirectTest {
    private static final Path STANDARD = Path.of("/sys/fs/cgroup");
    private static boolean mountedHere;
    private static Path mount;
    private Process sleeper;

    @BeforeAll
    static void hierarchy() throws Exception {
        Assumptions.assumeTrue(Native.geteuid() == 0, "cgroups are created as root; this test runs as another user");
        if (CgroupsV2.mountIfAny().isEmpty() && Cgroups.hierarchies().isEmpty() && Files.isDirectory(STANDARD)) {
            run("mount", "-t", "cgroup2", "none", STANDARD.toString());
            mountedHere = true;
        }
        Assumptions.assumeTrue(CgroupsV2.mountIfAny().isPresent(), "no cgroup v2 mounted here, and none could be");
        mount = CgroupsV2.mount();
        String offered = Files.readString(mount.resolve("cgroup.controllers")).strip();
        Assumptions.assumeTrue(List.of(offered.split(" ")).containsAll(List.of("pids", "memory")),
                () -> "this host's cgroup v2 offers [" + offered + "]: pids and memory are bound to v1 (CgroupsTest covers v1)");
        Assumptions.assumeTrue(!Cgroups.v1Mounts().containsKey("pids") && !Cgroups.v1Mounts().containsKey("memory"),
                "pids and memory are on cgroup v1 here, which jkvm uses first (CgroupsTest covers that)");
    }

    @AfterAll
    static void unmount() throws Exception {
        if (mount != null) {
            Files.deleteIfExists(mount.resolve(CgroupsV2.DEFAULT_PARENT)); // empty once every test released its VM's
        }
        if (mountedHere) {
            run("umount", STANDARD.toString());
        }
    }

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(String.join(" ", cmd) + ": " + out).isZero();
    }

    @BeforeEach
    void start() throws Exception {
        sleeper = new ProcessBuilder("sleep", "600").start();
    }

    @AfterEach
    void stop() throws Exception {
        sleeper.destroyForcibly().waitFor();
    }

    private static String membership(long pid) throws Exception {
        return Files.readAllLines(Path.of("/proc", Long.toString(pid), "cgroup")).stream().filter(l -> l.startsWith("0::"))
                .findFirst().orElseThrow();
    }

    @Test
    void theVmsSettingsGoToItsOwnCgroupBeneathJkvmAndReleaseUndoesIt() throws Exception {
        String id = "t" + UUID.randomUUID().toString().substring(0, 8);
        long pid = sleeper.pid();
        String before = membership(pid);
        Cgroups.Applied a = Cgroups.apply(pid, id, List.of(CgroupSetting.parse("pids.max=64"), CgroupSetting.parse("memory.max=256M")), null);
        Path dir = mount.resolve("jkvm").resolve("jkvm-" + id);
        try {
            assertThat(a.dirs()).containsOnlyKeys("pids", "memory").containsValue(dir);
            assertThat(membership(pid)).isEqualTo("0::/jkvm/jkvm-" + id);
            assertThat(Files.readString(dir.resolve("pids.max")).strip()).isEqualTo("64");
            assertThat(Files.readString(dir.resolve("memory.max")).strip()).isEqualTo(Long.toString(256L << 20));
            assertThat(Files.readString(mount.resolve("jkvm").resolve("cgroup.subtree_control"))).contains("pids").contains("memory");
        } finally {
            Cgroups.release(a);
        }
        assertThat(membership(pid)).isEqualTo(before);
        assertThat(dir).doesNotExist();
    }

    @Test
    void aV1FileNameIsRefusedNamingItsV2CounterpartAndLeavesNoCgroup() {
        String id = "t" + UUID.randomUUID().toString().substring(0, 8);
        assertThatThrownBy(() -> Cgroups.apply(sleeper.pid(), id, List.of(CgroupSetting.parse("memory.limit_in_bytes=1G")), null))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("cgroup memory.limit_in_bytes=1G: memory.limit_in_bytes is not a file of the memory controller in cgroup v2, which has memory.max");
        assertThat(mount.resolve("jkvm").resolve("jkvm-" + id)).doesNotExist();
    }

    @Test
    void aLauncherRemovesTheV2CgroupOfAVmmThatIsGone() throws Exception {
        String id = "t" + UUID.randomUUID().toString().substring(0, 8);
        Process vmm = new ProcessBuilder("sleep", "600").start();
        Cgroups.Applied a = Cgroups.apply(vmm.pid(), id, List.of(CgroupSetting.parse("pids.max=64")), null);
        long me = ProcessHandle.current().pid();
        try {
            assertThat(Cgroups.removeLeftover(id, List.of("pids"), null, me)).as("while its process runs").isEmpty();
            vmm.destroyForcibly().waitFor();
            assertThat(Cgroups.removeLeftover(id, List.of("pids"), null, me)).containsExactly(a.dirs().get("pids"));
            assertThat(a.dirs().get("pids")).doesNotExist();
        } finally {
            vmm.destroyForcibly();
            Cgroups.release(a);
        }
    }
}
