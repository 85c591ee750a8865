package io.jkvm.daemon;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** JKVM_VMM_JAVA_OPTS: JVM options the daemon adds to each VMM's command line, and nothing else. */
class VmmJavaOptionsTest {
    @Test
    void jvmOptionsArePassedOnInOrder() {
        assertThat(VmmProcess.extraJavaOptions(null)).isEmpty();
        assertThat(VmmProcess.extraJavaOptions("  ")).isEmpty();
        assertThat(VmmProcess.extraJavaOptions(" -XX:TieredStopAtLevel=1\t-Xmx200m -Dfoo.bar=a/b,c -verbose:gc "))
                .containsExactly("-XX:TieredStopAtLevel=1", "-Xmx200m", "-Dfoo.bar=a/b,c", "-verbose:gc");
    }

    @Test
    void anythingButAJvmOptionIsRefusedByName() {
        for (String bad : new String[] {"-cp /tmp/x", "-jar evil.jar", "io.jkvm.Other", "-javaagent:/tmp/a.jar",
                "-XX:VMOptionsFile=/tmp/o", "-Xbootclasspath/a:/tmp", "--add-opens=java.base/java.lang=ALL-UNNAMED",
                "-Xrunjdwp:transport=dt_socket,server=y", "-XX:OnError=/tmp/x", "-XX:OnOutOfMemoryError=/tmp/x",
                "-XX:ArchiveClassesAtExit=/tmp/a.jsa", "-XX:+AutoCreateSharedArchive", "-XX:AOTCacheOutput=/tmp/a.aot",
                "-XX:AOTMode=record", "-XX:AOTMode=create", "-Xshare:dump", "-XX:DumpLoadedClassList=/tmp/c.lst",
                "-XX:+RecordDynamicDumpInfo"}) {
            assertThatThrownBy(() -> VmmProcess.extraJavaOptions(bad)).as(bad)
                    .hasMessageStartingWith("JKVM_VMM_JAVA_OPTS: '" + bad.split(" ")[0] + "'");
        }
    }

    @Test
    void optionsThisJdkDoesNotTakeAreRefusedWithItsOwnWords() throws Exception {
        VmmProcess.checkJavaOptions(List.of());
        VmmProcess.checkJavaOptions(List.of("-XX:TieredStopAtLevel=1", "-Dx=y"));
        assertThatThrownBy(() -> VmmProcess.checkJavaOptions(List.of("-XX:+NoSuchOptionAnywhere")))
                .hasMessageStartingWith("JKVM_VMM_JAVA_OPTS: the JVM refuses them: ")
                .hasMessageContaining("NoSuchOptionAnywhere");
        assertThatThrownBy(() -> VmmProcess.checkJavaOptions(List.of("-XX:+UseG1GC")))
                .as("conflicts with the VMM's own -XX:+UseSerialGC").hasMessageContaining("JKVM_VMM_JAVA_OPTS");
    }

    @Test
    void aVmmStartsWithTheAotCacheOfADaemonThatBinJkvmStarted(@TempDir Path dir) throws Exception {
        // bin/jkvm starts the daemon with its AOT cache; the VMMs get the same options, and the
        // JVM refuses -XX:AOTCache beside any -Xshare option. A missing cache file is only a
        // warning (switched off here), so the JVM starts as a VMM would.
        List<String> daemon = List.of("--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC", "-Xmx256m",
                "-XX:AOTCache=" + dir.resolve("jkvm.aot"), "-Xlog:aot=off", "-Xlog:cds=off");
        List<String> passedOn = VmmProcess.classDataOptions(daemon);
        assertThat(passedOn).containsExactly("-XX:AOTCache=" + dir.resolve("jkvm.aot"), "-Xlog:aot=off", "-Xlog:cds=off");
        VmmProcess.checkJavaOptions(passedOn);
    }

    @Test
    void aVmmReadsTheDaemonsArchiveInTheDaemonsShareModeAndNeverWritesIt() {
        // The lab tier's daemon: a dynamic archive that may not be usable yet, so -Xshare:auto too.
        // The daemon may write it at exit; a VMM, running as its VM's uid, must not.
        List<String> daemon = List.of("-XX:+UseSerialGC", "-Xshare:auto", "-XX:SharedArchiveFile=/run/t/children.jsa",
                "-XX:+AutoCreateSharedArchive", "-Xmx256m");
        assertThat(VmmProcess.classDataOptions(daemon)).containsExactly("-Xshare:auto",
                "-XX:SharedArchiveFile=/run/t/children.jsa");
    }

    @Test
    void aVmmThatOnlyReadsAnArchiveStartsWhileItDoesNotExistYet(@TempDir Path dir) throws Exception {
        // A daemon writing its own archive needs no -Xshare mode; without -Xshare:auto a VMM given
        // the archive alone would refuse to start until the daemon had written it.
        List<String> daemon = List.of("-XX:SharedArchiveFile=" + dir.resolve("d.jsa"), "-XX:+AutoCreateSharedArchive",
                "-Xlog:cds=off");
        List<String> passedOn = VmmProcess.classDataOptions(daemon);
        assertThat(passedOn).containsExactly("-Xshare:auto", "-XX:SharedArchiveFile=" + dir.resolve("d.jsa"), "-Xlog:cds=off");
        VmmProcess.checkJavaOptions(passedOn);
    }

    @Test
    void aVmmsEnvironmentCarriesNoJvmOptions() {
        // What the daemon's environment gives its own JVM must not reach a VMM past the checks above.
        var env = new java.util.HashMap<String, String>(java.util.Map.of("PATH", "/usr/bin",
                "JAVA_TOOL_OPTIONS", "-XX:ArchiveClassesAtExit=/tmp/a.jsa", "_JAVA_OPTIONS", "-javaagent:/tmp/a.jar",
                "JDK_JAVA_OPTIONS", "-XX:+AutoCreateSharedArchive", "JKVM_KVM_DEVICE", "/dev/kvm"));
        assertThat(VmmProcess.jvmOptionVariablesSet(env)).containsExactly("JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS",
                "JDK_JAVA_OPTIONS");
        VmmProcess.scrubJvmOptions(env);
        assertThat(env).containsOnlyKeys("PATH", "JKVM_KVM_DEVICE");
        assertThat(VmmProcess.jvmOptionVariablesSet(java.util.Map.of("JAVA_TOOL_OPTIONS", " "))).isEmpty();
    }

    @Test
    void theOptionsComeBeforeTheMainClass() {
        var cmd = VmmProcess.command(Path.of("/run/a.sock"), Path.of("/run/c.sock"), "vm1", null);
        assertThat(cmd.indexOf(VmmProcess.MAIN_CLASS)).isGreaterThan(cmd.indexOf("-cp"));
        String opts = System.getenv(VmmProcess.JAVA_OPTS_ENV);
        if (opts != null && !opts.isBlank()) {
            int at = cmd.indexOf(opts.strip().split("\\s+")[0]);
            assertThat(at).as("%s in %s", opts, cmd).isPositive().isLessThan(cmd.indexOf(VmmProcess.MAIN_CLASS));
        }
    }
}
