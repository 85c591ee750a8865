package io.jkvm.lab;

import static org.assertj.core.api.Assertions.assertThat;

import io.jkvm.labtests.LabClass;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The lab end to end. Each L1 boot costs several seconds of emulation, so checks are grouped:
 * one boot looks at the environment, one at stdin, one at the lab's own failure path.
 */
@LabClass
class LabTest {
    private static final Path JAVA_HOME = Path.of("/usr/lib/jvm/temurin-25-jdk-amd64");

    @BeforeAll
    static void needsTheLab() {
        var reason = Lab.availability();
        Assumptions.assumeTrue(reason.isEmpty(), () -> "lab tests skipped: " + reason.orElse(""));
    }

    private static LabOptions options() {
        LabOptions o = LabOptions.defaults();
        return o.withTimeout(Duration.ofSeconds(240)).withMachine(o.memoryMib(), 1).withEnv("JAVA_HOME", JAVA_HOME.toString());
    }

    @Test
    void environmentHasNestedKvmSharedFilesAndJava() throws IOException {
        Path marker = Files.createTempFile(Path.of("/tmp"), "jkvm-labtest-", ".txt");
        try {
            String script = String.join("\n",
                    "grep -qw svm /proc/cpuinfo && echo cpu=svm",
                    "test -c /dev/kvm && echo dev=kvm",
                    "test -c /dev/net/tun && echo dev=tun",
                    "echo written-in-lab > " + marker,
                    "echo pwd=$(pwd)",
                    "t0=$(date +%s%N)",
                    "\"$JAVA_HOME/bin/java\" -version || exit 9",
                    "t1=$(date +%s%N)",
                    "echo java_ms=$(( (t1 - t0) / 1000000 ))",
                    "exit 3");
            LabResult r = Lab.exec(List.of("sh", "-c", script), options().withWorkDir(Path.of("/tmp")));
            assertThat(r.exitCode()).as("exit status; error %s; console:%n%s", r.error(), r.console()).isEqualTo(3);
            assertThat(r.stdout()).contains("cpu=svm", "dev=kvm", "dev=tun", "pwd=/tmp");
            assertThat(r.stderr()).contains("version \"25");
            assertThat(Files.readString(marker)).isEqualTo("written-in-lab\n");
            System.out.printf("lab: boot to command %d ms, total %d ms, %s%n", r.boot().toMillis(),
                    r.total().toMillis(), r.stdout().lines().filter(l -> l.startsWith("java_ms=")).findFirst().orElse(""));
        } finally {
            Files.deleteIfExists(marker);
        }
    }

    @Test
    void stdinReachesTheCommandAndEndsWithEof() throws IOException {
        LabResult r = Lab.exec(List.of("cat"), options(), "hello".getBytes(StandardCharsets.UTF_8));
        assertThat(r.exitCode()).as("error %s; console:%n%s", r.error(), r.console()).isZero();
        assertThat(r.stdout()).isEqualTo("hello");
    }

    @Test
    void timeoutKillsTheLab() throws IOException {
        LabResult r = Lab.exec(List.of("sleep", "600"), options().withTimeout(Duration.ofSeconds(12)));
        assertThat(r.exitCode()).isEqualTo(Lab.EXIT_TIMEOUT);
        assertThat(r.error()).contains("timed out");
    }

    @Test
    void aRunThatStopsPrintingIsEndedByTheIdleWatchdogNotByItsTotal() throws IOException {
        // Output resets the watchdog; once the command goes silent it is killed, well before the
        // whole run's limit.
        LabResult r = Lab.exec(List.of("sh", "-c", "echo first; sleep 1; echo second; exec sleep 600"),
                options().withTimeout(Duration.ofMinutes(20)).withIdleTimeout(Duration.ofSeconds(45)));
        assertThat(r.exitCode()).as("%s%n%s", r.error(), r.console()).isEqualTo(Lab.EXIT_TIMEOUT);
        assertThat(r.error()).contains("no output").contains("45 s");
        assertThat(r.stdout()).isEqualTo("first\nsecond\n");
        assertThat(r.total()).isLessThan(Duration.ofMinutes(20));
    }
}
