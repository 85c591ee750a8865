package io.jkvm.migration;

import io.jkvm.testing.Patience;
import com.fasterxml.jackson.databind.JsonNode;
import io.jkvm.api.Json;
import io.jkvm.api.UdsHttpClient;
import io.jkvm.snapshot.CounterGuest;
import io.jkvm.testing.JkvmCommand;
import io.jkvm.testing.KvmAvailable;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code jkvm run --incoming} as a real process: it listens (port from its migration_listening
 * event), refuses with the reason, and keeps waiting, a source whose machine differs from its
 * configuration, any source while it has no configuration of its own (it does not take the
 * source's host paths), and a source that does not describe its devices; a source that matches
 * but turns out not to be a Linux VM (no vm_config device state) fails the migration, and the
 * destination VMM exits with an error.
 */
@Tag("kvm")
class IncomingCommandDirectTest {
    @TempDir
    static Path certs;
    static TestPki pki;

    @TempDir
    Path dir;

    @BeforeAll
    static void pki() throws Exception {
        pki = TestPki.create(certs);
    }

    @BeforeEach
    void kvm() {
        KvmAvailable.assume();
    }

    @Test
    void theDestinationRefusesWhatItCannotTake() throws Exception {
        Path sock = dir.resolve("dst.sock");
        Process dest = new ProcessBuilder(JkvmCommand.of("run", "--api-sock", sock.toString(),
                "--incoming", "tcp:127.0.0.1:0", "--tls-cert", certs.resolve("dest.pem").toString(),
                "--tls-key", certs.resolve("dest.key").toString(), "--tls-ca", certs.resolve("ca.pem").toString()))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        StringBuilder log = new StringBuilder();
        try (BufferedReader err = new BufferedReader(new InputStreamReader(dest.getErrorStream(), StandardCharsets.UTF_8))) {
            int port = -1;
            boolean apiUp = false;
            // Both events: the migration listener is bound before the API socket.
            for (String line; (port < 0 || !apiUp) && (line = err.readLine()) != null; ) {
                log.append(line).append('\n');
                if (line.contains("\"migration_listening\"")) {
                    port = Json.MAPPER.readTree(line).path("port").asInt();
                }
                apiUp |= line.contains("\"api_listening\"");
            }
            assertThat(apiUp).as("API listening; stderr: %s", log).isTrue();
            assertThat(port).as("destination listening; stderr: %s", log).isPositive();
            MigrationAddress to = new MigrationAddress("127.0.0.1", port);

            try (MigrationDirectTest.Source src = MigrationDirectTest.Source.start(32L << 20);
                 UdsHttpClient api = new UdsHttpClient(sock)) {
                assertThat(api.send("PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 64}",
                        Patience.seconds(30)).ok()).isTrue();
                OutgoingMigration first = new OutgoingMigration(MigrationSource.of(src.machine(), List::of), to,
                        pki.source, new Convergence(300));
                first.run();
                assertThat(first.status().error()).isEqualTo("destination refused: source has 1 vCPUs and 32 MiB,"
                        + " this VM is configured with 1 vCPUs and 64 MiB");
                MigrationDirectTest.assertRunsOnAsBefore(src);
                assertThat(dest.isAlive()).as("still waiting; stderr: %s", log).isTrue();

                assertThat(api.send("PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 32}",
                        Patience.seconds(30)).ok()).isTrue();
                OutgoingMigration second = new OutgoingMigration(MigrationSource.of(src.machine(), List::of), to,
                        pki.source, new Convergence(300));
                second.run();
                assertThat(second.status().error()).isEqualTo("destination refused: this VMM has no configuration of its own"
                        + " for the incoming VM: give it its boot-source, drives and network-interfaces through the API before"
                        + " the source connects (or start it with --trust-source-paths to use the host paths the source"
                        + " recorded)");
                MigrationDirectTest.assertRunsOnAsBefore(src);

                Path kernel = Files.write(dir.resolve("vmlinux"), new byte[] {0x7f, 'E', 'L', 'F'});
                assertThat(api.send("PUT", "/boot-source", "{\"kernel_image_path\": \"" + kernel + "\"}",
                        Duration.ofSeconds(30)).ok()).isTrue();
                OutgoingMigration third = new OutgoingMigration(MigrationSource.of(src.machine(), List::of), to,
                        pki.source, new Convergence(300));
                third.run();
                assertThat(third.status().error()).isEqualTo("destination refused: the source did not describe its"
                        + " devices (not a Linux VM this VMM can run)");
                assertThat(dest.isAlive()).as("still waiting; stderr: %s", log).isTrue();

                OutgoingMigration fourth = new OutgoingMigration(withShape(MigrationSource.of(src.machine(), List::of),
                        new VmShape(List.of(), List.of(), false, false)), to, pki.source, new Convergence(300));
                fourth.run();
                System.out.println("fourth attempt: " + fourth.status().error());
                // Accepted and streamed, but the counter guest has no Linux VM configuration to check devices against.
                assertThat(fourth.status().error()).startsWith("destination failed: DEVICE records: no vm_config state");
                MigrationDirectTest.assertRunsOnAsBefore(src);
            }
            assertThat(dest.waitFor(Patience.secondsOf(60), TimeUnit.SECONDS)).isTrue();
            assertThat(dest.exitValue()).as("a failed incoming migration ends the destination VMM with an error").isEqualTo(1);
        } finally {
            dest.destroyForcibly();
            dest.waitFor();
        }
    }

    /** {@code source} announcing {@code shape} as its devices. */
    static MigrationSource withShape(MigrationSource source, VmShape shape) {
        return new MigrationSource() {
            public io.jkvm.vmm.Machine machine() {
                return source.machine();
            }

            public void pause() throws InterruptedException {
                source.pause();
            }

            public void resume() {
                source.resume();
            }

            public List<io.jkvm.snapshot.DeviceState> deviceStates() {
                return source.deviceStates();
            }

            public void migratedAway() {
                source.migratedAway();
            }

            public VmShape shape() {
                return shape;
            }
        };
    }
}
