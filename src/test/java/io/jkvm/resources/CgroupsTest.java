package io.jkvm.resources;

import io.jkvm.kvm.Native;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.UUID;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Real cgroup-v1 hierarchies of this host: a process is moved into its VM's own cgroups, nested
 * under its current ones, with the settings written and visible as the files; bad settings are
 * refused naming them; release puts it back and removes the cgroups.
 */
class CgroupsTest {
    private Process sleeper;

    @BeforeEach
    void host() throws Exception {
        Assumptions.assumeTrue(Native.geteuid() == 0, "cgroups are created as root; this test runs as another user");
        Assumptions.assumeTrue(Cgroups.v1Mounts().keySet().containsAll(List.of("cpu", "pids")),
                "no cgroup-v1 cpu and pids hierarchies on this host (the v2 path: CgroupsV2DirectTest)");
        sleeper = new ProcessBuilder("sleep", "600").start();
    }

    @AfterEach
    void stop() {
        if (sleeper != null) {
            sleeper.destroyForcibly();
        }
    }

    @Test
    void theProcessMovesIntoItsVmsCgroupsWithTheSettingsAndBackOnRelease() throws Exception {
        String id = "t" + UUID.randomUUID().toString().substring(0, 8);
        long pid = sleeper.pid();
        Cgroups.Applied a = Cgroups.apply(pid, id, List.of(CgroupSetting.parse("cpu.cfs_quota_us=50000"),
                CgroupSetting.parse("pids.max=64")), null);
        try {
            assertThat(a.dirs()).containsOnlyKeys("cpu", "pids");
            assertThat(Files.readString(a.dirs().get("cpu").resolve("cpu.cfs_quota_us")).strip()).isEqualTo("50000");
            assertThat(Files.readString(a.dirs().get("pids").resolve("pids.max")).strip()).isEqualTo("64");
            assertThat(Files.readString(Path.of("/proc", Long.toString(pid), "cgroup")))
                    .contains("cpu:" + Cgroups.currentPaths(pid).get("cpu"))
                    .contains("jkvm-" + id);
            assertThat(Cgroups.currentPaths(pid).get("pids")).endsWith("/jkvm-" + id);
        } finally {
            Cgroups.release(a);
        }
        assertThat(Cgroups.currentPaths(pid).get("pids")).doesNotContain("jkvm-" + id);
        assertThat(a.dirs().values()).allSatisfy(d -> assertThat(d).doesNotExist());
    }

    @Test
    void settingsTheHostCannotTakeAreRefusedNamingThem() {
        String id = "t" + UUID.randomUUID().toString().substring(0, 8);
        long pid = sleeper.pid();
        assertThatThrownBy(() -> Cgroups.apply(pid, id, List.of(CgroupSetting.parse("nosuchctl.limit=1")), null))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("nosuchctl.limit=1")
                .hasMessageContaining("cgroup nosuchctl.limit=1").hasMessageContaining("no nosuchctl controller");
        assertThatThrownBy(() -> Cgroups.apply(pid, id, List.of(CgroupSetting.parse("pids.nosuch=1")), null))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("pids.nosuch is not a file of the pids controller");
        assertThatThrownBy(() -> Cgroups.apply(pid, id, List.of(CgroupSetting.parse("pids.max=lots")), null))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("cgroup pids.max=lots: writing");
        assertThat(Cgroups.currentPaths(pid).get("pids")).as("the process did not move").doesNotContain("jkvm-" + id);
        Path left = Cgroups.v1Mounts().get("pids").resolve(Cgroups.currentPaths(pid).get("pids").replaceFirst("^/+", ""))
                .resolve("jkvm-" + id);
        assertThat(left).as("a refused setting leaves no cgroup behind").doesNotExist();
    }

    @Test
    void aSecondVmWithTheSameIdIsRefusedAndALaterControllerFailureLeavesNoCgroup() throws Exception {
        String id = "t" + UUID.randomUUID().toString().substring(0, 8);
        Cgroups.Applied a = Cgroups.apply(sleeper.pid(), id, List.of(CgroupSetting.parse("pids.max=64")), null);
        Process other = new ProcessBuilder("sleep", "600").start();
        try {
            assertThatThrownBy(() -> Cgroups.apply(other.pid(), id, List.of(CgroupSetting.parse("pids.max=64")), null))
                    .isInstanceOf(IllegalStateException.class).hasMessageContaining("already holds another process")
                    .hasMessageContaining("give each VM its own id");
            assertThat(a.dirs().get("pids")).as("the first VM's cgroup is untouched").isDirectory();
            String id2 = id + "b";
            assertThatThrownBy(() -> Cgroups.apply(other.pid(), id2,
                    List.of(CgroupSetting.parse("pids.max=64"), CgroupSetting.parse("nosuchctl.limit=1")), null))
                    .hasMessageContaining("nosuchctl");
            assertThat(a.dirs().get("pids").resolveSibling("jkvm-" + id2)).as("the pids cgroup made before the refusal").doesNotExist();
        } finally {
            other.destroyForcibly().waitFor();
            Cgroups.release(a);
        }
    }

    @Test
    void aLauncherRemovesTheCgroupOfAVmmThatIsGone() throws Exception {
        String id = "t" + UUID.randomUUID().toString().substring(0, 8);
        Process vmm = new ProcessBuilder("sleep", "600").start();
        Cgroups.Applied a = Cgroups.apply(vmm.pid(), id, List.of(CgroupSetting.parse("pids.max=64")), null);
        long me = ProcessHandle.current().pid();
        try {
            assertThat(Cgroups.removeLeftover(id, List.of("pids"), null, me)).as("while its process runs").isEmpty();
            assertThat(a.dirs().get("pids")).isDirectory();
            vmm.destroyForcibly().waitFor();
            assertThat(Cgroups.removeLeftover(id, List.of("pids"), null, me)).containsExactly(a.dirs().get("pids"));
            assertThat(a.dirs().get("pids")).doesNotExist();
        } finally {
            vmm.destroyForcibly();
            Cgroups.release(a);
        }
    }

    @Test
    void settingsAreParsedAndCheckedBeforeAnyFileIsTouched() {
        assertThat(CgroupSetting.parse("memory.limit_in_bytes=512M").controller()).isEqualTo("memory");
        for (String bad : List.of("memory", "=1", "Memory.x=1", "cgroup.procs=1", "cpu.shares=", "cpu.shares=1\n2",
                "../x.y=1", "cpu.shares=" + "9".repeat(300))) {
            assertThatThrownBy(() -> CgroupSetting.parse(bad)).as(bad).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("cgroup");
        }
        assertThatThrownBy(() -> Cgroups.apply(1, "bad id", List.of(), null)).hasMessageContaining("VM id");
        assertThatThrownBy(() -> Cgroups.apply(1, "ok", List.of(), "../escape")).hasMessageContaining("parent-cgroup");
    }
}
