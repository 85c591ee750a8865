package io.jkvm.isolation;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ConfinementSettingsTest {
    @Test
    void defaultsAreSeccompOnAndLandlockAuto() {
        Confinement c = Confinement.of(null, null);
        assertThat(c.seccomp()).isEqualTo(SeccompMode.ON);
        assertThat(c.seccompExplicit()).isFalse();
        assertThat(c.landlock()).isEqualTo(LandlockMode.AUTO);
    }

    @Test
    void aBadValueIsOneLineNamingTheFlag() {
        assertThatThrownBy(() -> Confinement.of("maybe", null)).hasMessage("--seccomp maybe: must be off, log or on");
        assertThatThrownBy(() -> Confinement.of(null, "yes")).hasMessage("--landlock yes: must be off, auto or on");
    }

    @Test
    void givenValuesAreKept() {
        Confinement c = Confinement.of("log", "off");
        assertThat(c.seccomp()).isEqualTo(SeccompMode.LOG);
        assertThat(c.seccompExplicit()).isTrue();
        assertThat(c.landlock()).isEqualTo(LandlockMode.OFF);
    }

    @Test
    void bothOffAppliesNothing() {
        // Safe in the test JVM: with both off not even no_new_privs is set.
        assertThat(Confinement.NONE.apply(() -> {
            throw new AssertionError("no policy is needed");
        })).isEqualTo(new Confinement.Outcome("off", "off", null, null, false, 0));
    }

    private static final LandlockAbi.Probe NO_LANDLOCK = new LandlockAbi.Probe(null,
            "the kernel was built without Landlock (CONFIG_SECURITY_LANDLOCK)");

    @Test
    void landlockOnFailsBeforeBootWithOneLineWhereTheKernelLacksItAndAutoDoesNot() {
        assertThatThrownBy(() -> Confinement.of(null, "on").checked(() -> NO_LANDLOCK, () -> null))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("--landlock on: the kernel was built without Landlock (CONFIG_SECURITY_LANDLOCK)"
                        + " (use --landlock auto or off)");
        assertThat(Confinement.of(null, "auto").checked(() -> NO_LANDLOCK, () -> null).landlock()).isEqualTo(LandlockMode.AUTO);
    }

    @Test
    void seccompByDefaultGivesWayOnAKernelWithoutFiltersButAnExplicitOnFails() {
        String none = "the kernel has no seccomp filters with SECCOMP_RET_KILL_PROCESS (Invalid argument)";
        assertThat(Confinement.of(null, "off").checked(() -> NO_LANDLOCK, () -> none).seccomp()).isEqualTo(SeccompMode.OFF);
        assertThatThrownBy(() -> Confinement.of("on", "off").checked(() -> NO_LANDLOCK, () -> none))
                .hasMessage("--seccomp on: " + none + " (use --seccomp off)");
        assertThatThrownBy(() -> Confinement.of("log", "off").checked(() -> NO_LANDLOCK, () -> none))
                .hasMessageStartingWith("--seccomp log: ");
    }

    @Test
    void jvmOptionsThatWriteAtExitOrForkAtExitAreRecognised() {
        var lab = java.util.List.of("--enable-native-access=ALL-UNNAMED", "-XX:SharedArchiveFile=/run/t/children.jsa",
                "-XX:+AutoCreateSharedArchive", "-cp", "x.jar", "io.jkvm.cli.Main", "run");
        assertThat(JvmArgs.writtenAtExit(lab)).containsExactly(java.nio.file.Path.of("/run/t/children.jsa"));
        assertThat(JvmArgs.writtenAtExit(java.util.List.of("-XX:SharedArchiveFile=/a.jsa"))).as("read only").isEmpty();
        assertThat(JvmArgs.writtenAtExit(java.util.List.of("-XX:ArchiveClassesAtExit=/b.jsa")))
                .containsExactly(java.nio.file.Path.of("/b.jsa"));
        assertThat(JvmArgs.forksAtExit(lab)).isFalse();
        assertThat(JvmArgs.forksAtExit(java.util.List.of("-XX:AOTCacheOutput=/c.aot"))).isTrue();
        assertThat(JvmArgs.forksAtExit(JvmArgs.all(java.util.Map.of("JAVA_TOOL_OPTIONS", " -Xss1m  -XX:AOTCacheOutput=/d.aot "),
                new String[] {"-cp", "x"}))).as("an option from JAVA_TOOL_OPTIONS").isTrue();
        assertThat(JvmArgs.writtenAtExit(JvmArgs.all(java.util.Map.of("JDK_JAVA_OPTIONS", "-XX:ArchiveClassesAtExit=/e.jsa"),
                new String[0]))).containsExactly(java.nio.file.Path.of("/e.jsa"));
        assertThat(JvmArgs.all(java.util.Map.of("_JAVA_OPTIONS", "-XX:AOTCacheOutput=/f.aot", "JAVA_TOOL_OPTIONS", "-Xss1m"),
                new String[] {"-cp", "x"})).as("_JAVA_OPTIONS is read after the command line")
                .containsExactly("-Xss1m", "-cp", "x", "-XX:AOTCacheOutput=/f.aot");
        assertThat(JvmArgs.all()).as("this JVM's own command line").contains("--enable-native-access=ALL-UNNAMED");
    }
}
