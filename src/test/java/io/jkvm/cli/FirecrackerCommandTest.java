package io.jkvm.cli;

import io.jkvm.api.VmmAction;
import io.jkvm.snapshot.SnapshotKey;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Unit: {@code jkvm firecracker} takes Firecracker's command line as its launchers write it (the
 * jailer's appended flags, Kata's {@code --api-sock/--config-file}), refuses each flag it cannot
 * honour in one line naming it, and prints {@code --version} where Kata parses it. Also the host
 * snapshot key a VMM uses when no {@code --snapshot-key} is given.
 */
class FirecrackerCommandTest {
    @TempDir Path dir;

    private static FirecrackerCommand parsed(String... args) {
        FirecrackerCommand c = new FirecrackerCommand();
        new CommandLine(c).parseArgs(args);
        return c;
    }

    @Test
    void theJailersArgumentLineIsAcceptedAndLoggerAndMetricsFlagsBecomeActions() {
        FirecrackerCommand c = parsed("--id", "551e7604-e35c-42b3-b825-416853441234", "--start-time-us", "7000000",
                "--start-time-cpu-us", "1200", "--parent-cpu-time-us", "300", "--api-sock", "/run/fc.sock",
                "--config-file", "config.json", "--log-path", "fc.log", "--level", "Debug", "--show-level",
                "--metrics-path", "metrics.fifo", "--no-seccomp");
        List<VmmAction> actions = c.checkedFlags();
        assertThat(actions).hasSize(2);
        assertThat(actions.get(0)).isInstanceOfSatisfying(VmmAction.ConfigureLogger.class, l -> {
            assertThat(l.logger().logPath()).isEqualTo("fc.log");
            assertThat(l.logger().level()).isEqualTo("Debug");
            assertThat(l.logger().showLevel()).isTrue();
        });
        assertThat(actions.get(1)).isInstanceOfSatisfying(VmmAction.ConfigureMetrics.class,
                m -> assertThat(m.metrics().metricsPath()).isEqualTo("metrics.fifo"));
    }

    @Test
    void devicesAreOnVirtioMmioAsFirecrackersUnlessEnablePciIsGiven() {
        assertThat(parsed("--api-sock", "/run/fc.sock").virtioTransport()).isEqualTo(io.jkvm.config.VirtioTransport.MMIO);
        assertThat(parsed("--api-sock", "/run/fc.sock", "--enable-pci").virtioTransport())
                .isEqualTo(io.jkvm.config.VirtioTransport.PCI);
    }

    @Test
    void mmdsFlagsAreTakenAndMetadataBecomesAPut() throws Exception {
        Path meta = Files.writeString(dir.resolve("meta.json"), "{\"latest\": {\"a\": \"b\"}}");
        FirecrackerCommand c = parsed("--mmds-size-limit", "4096", "--metadata", meta.toString());
        assertThat(c.mmdsSizeLimit).isEqualTo(4096L);
        assertThat(c.checkedFlags()).singleElement().isInstanceOfSatisfying(VmmAction.PutMmds.class,
                p -> assertThat(p.value().path("latest").path("a").asText()).isEqualTo("b"));
        Path bad = Files.writeString(dir.resolve("bad.json"), "{");
        assertThatThrownBy(() -> parsed("--metadata", bad.toString()).checkedFlags()).isInstanceOf(UserError.class)
                .hasMessageContaining("--metadata");
    }

    @Test
    void flagsJkvmCannotHonourAreRefusedNamingThem() {
        for (String[] args : List.of(new String[] {"--seccomp-filter", "f.bpf"}, new String[] {"--boot-timer"},
                new String[] {"--mmds-size-limit", "-1"}, new String[] {"--http-api-max-payload-size", "1000"},
                new String[] {"--no-api"}, new String[] {"--id", "bad id"}, new String[] {"--level", "Info"})) {
            assertThatThrownBy(() -> parsed(args).checkedFlags()).as(String.join(" ", args))
                    .isInstanceOf(UserError.class).hasMessageContaining(args[0]);
        }
    }

    @Test
    void versionIsPrintedWhereKataReadsIt() {
        StringWriter out = new StringWriter();
        CommandLine cl = Cli.commandLine();
        cl.setOut(new PrintWriter(out, true));
        assertThat(cl.execute("firecracker", "--version")).isZero();
        String first = out.toString().lines().findFirst().orElseThrow();
        // Kata's parseVersion: the second space-separated word of the first line, minus "v".
        String version = first.split(" ")[1].replaceFirst("^v", "");
        assertThat(version).matches("\\d+\\.\\d+\\.\\d+").isEqualTo(io.jkvm.api.Versions.FIRECRACKER_API);
    }

    @Test
    void aBadConfigFileIsOneLineAndExitTwoBeforeAnyHostCheck() throws Exception {
        Path config = Files.writeString(dir.resolve("vm.json"),
                "{\"boot-source\": {\"kernel_image_path\": \"" + dir.resolve("missing-kernel") + "\"},"
                        + " \"machine-config\": {\"vcpu_count\": 1, \"mem_size_mib\": 64}}");
        StringWriter err = new StringWriter();
        CommandLine cl = Cli.commandLine();
        cl.setErr(new PrintWriter(err, true));
        int exit = cl.execute("firecracker", "--no-api", "--config-file", config.toString());
        assertThat(exit).isEqualTo(Cli.EXIT_USAGE);
        assertThat(err.toString()).contains("kernel_image_path");
    }

    @Test
    void withoutASnapshotKeyTheHostKeyIsCreatedOnFirstUseMode0600AndKept() throws Exception {
        Path state = dir.resolve("state");
        HostSnapshotKey source = new HostSnapshotKey(state);
        assertThat(state).doesNotExist(); // nothing until a snapshot asks
        SnapshotKey k = source.get();
        Path file = state.resolve(SnapshotKey.DEFAULT_FILE);
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
        assertThat(new HostSnapshotKey(state).get().idHex()).as("the same key for the next VMM").isEqualTo(k.idHex());
    }

    @Test
    void aHostKeyThatCannotBeCreatedIsAnApiRefusalSayingWhatToDo() throws Exception {
        Path notADir = Files.writeString(dir.resolve("file"), "x");
        assertThatThrownBy(() -> new HostSnapshotKey(notADir.resolve("state")).get())
                .isInstanceOf(io.jkvm.api.ApiException.class).hasMessageContaining("--snapshot-key");
    }
}
