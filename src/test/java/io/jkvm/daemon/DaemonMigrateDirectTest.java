package io.jkvm.daemon;

import com.fasterxml.jackson.databind.JsonNode;
import io.jkvm.api.Json;
import io.jkvm.api.UdsHttpServer;
import io.jkvm.migration.TestPki;
import io.jkvm.testing.JkvmCommand;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.Patience;
import io.jkvm.testing.RawHttp;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static io.jkvm.daemon.DaemonSnapshotDirectTest.await;
import static io.jkvm.daemon.DaemonSnapshotDirectTest.ticks;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Direct KVM: {@code jkvm vm migrate} moves a counting guest from its daemon-run VMM to a
 * {@code jkvm run --incoming} over mutual TLS (the daemon's {@code --tls-*}, given to its VMMs);
 * the count goes on at the destination, the daemon records the VM as migrated and will not start
 * it a second time, and bad requests are refused naming the field.
 */
@Tag("kvm")
class DaemonMigrateDirectTest {
    private static final Pattern LISTENING = Pattern.compile("migration_listening.*?\"port\"\\s*:\\s*(\\d+)");

    @TempDir
    Path dir;
    private Path sock;
    private Process daemon;
    private Process destination;
    private final List<Long> pids = new ArrayList<>();

    @BeforeEach
    void setUp() {
        KvmAvailable.assume();
        sock = dir.resolve("daemon.sock");
    }

    @AfterEach
    void cleanUp() {
        for (Process p : new Process[] {daemon, destination}) {
            if (p != null) {
                p.destroyForcibly();
            }
        }
        for (long pid : pids) {
            ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
        }
    }

    private RawHttp.Reply api(String method, String path, String body) throws IOException {
        return RawHttp.request(sock, method, path, body);
    }

    private record Cli(int exit, String out) {}

    private Cli cli(String... args) throws Exception {
        System.out.println("daemon-migrate: jkvm " + String.join(" ", args)); // progress, for the lab's watchdog
        List<String> full = new ArrayList<>(List.of(args));
        full.addAll(List.of("--socket", sock.toString()));
        Process p = new ProcessBuilder(JkvmCommand.of(full.toArray(String[]::new))).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(Patience.secondsOf(180), TimeUnit.SECONDS)).isTrue();
        return new Cli(p.exitValue(), out);
    }

    @Test
    void aCountingGuestMigratesFromTheDaemonAndIsNotStartedTwice() throws Exception {
        Path certs = Files.createDirectories(dir.resolve("certs"));
        TestPki.create(certs);
        Path kernel = DaemonSnapshotDirectTest.countingKernel(dir);
        daemon = DaemonProcess.start(dir.resolve("state"), sock, dir.resolve("daemon.log"),
                "--tls-cert", certs.resolve("source.pem").toString(), "--tls-key", certs.resolve("source.key").toString(),
                "--tls-ca", certs.resolve("ca.pem").toString());
        await("the daemon socket", Patience.seconds(60), () -> UdsHttpServer.listening(sock));
        assertThat(api("POST", "/vms", """
                {"name": "counter", "config": {
                  "boot-source": {"kernel_image_path": "%s", "boot_args": "console=ttyS0"},
                  "machine-config": {"vcpu_count": 1, "mem_size_mib": 32}}}
                """.formatted(kernel)).status()).isEqualTo(201);
        assertThat(api("GET", "/vms/counter/migrate", null).status()).as("no migration yet").isEqualTo(409);
        // Through the API where the CLI is not what is tested: each CLI is a JVM start, slow in the lab.
        RawHttp.Reply start = api("POST", "/vms/counter/start", null);
        assertThat(start.status()).as(start.raw()).isEqualTo(200);
        JsonNode status = Json.MAPPER.readTree(api("GET", "/vms/counter", null).body()).path("status");
        pids.add(status.path("pid").asLong());
        Path serial = Path.of(status.path("serial_log").asText());
        await("three ticks", Patience.seconds(60), () -> ticks(serial).size() >= 3);

        // Refused before anything moves, naming what is wrong (the CLI's own checks: MigrateOptionsTest).
        RawHttp.Reply badBody = api("POST", "/vms/counter/migrate", "{\"destination\": \"tcp:127.0.0.1:1\", \"max_downtime_ms\": -1}");
        assertThat(badBody.status()).as(badBody.raw()).isEqualTo(400);
        assertThat(badBody.body()).contains("max_downtime_ms");

        Path destErr = dir.resolve("dest.err");
        Path destSerial = dir.resolve("dest.serial");
        destination = new ProcessBuilder(JkvmCommand.of("run", "--api-sock", dir.resolve("dest.sock").toString(), "--id", "dst",
                "--incoming", "tcp:127.0.0.1:0", "--trust-source-paths", "--tls-cert", certs.resolve("dest.pem").toString(),
                "--tls-key", certs.resolve("dest.key").toString(), "--tls-ca", certs.resolve("ca.pem").toString()))
                .redirectInput(ProcessBuilder.Redirect.PIPE).redirectOutput(destSerial.toFile()).redirectError(destErr.toFile())
                .start();
        await("the destination listening", Patience.seconds(120), () -> LISTENING.matcher(read(destErr)).find());
        Matcher port = LISTENING.matcher(read(destErr));
        assertThat(port.find()).isTrue();
        String to = "tcp:127.0.0.1:" + port.group(1);

        Cli mig = cli("vm", "migrate", "counter", "--to", to);
        assertThat(mig.exit()).as(mig.out() + "\n" + read(destErr)).isZero();
        assertThat(mig.out()).contains("migration completed to " + to);
        int lastHere = ticks(serial).getLast();

        await("the VM recorded as migrated", Patience.seconds(60), () -> state().path("state").asText().equals("migrated"));
        assertThat(state().path("last_exit").asText()).isEqualTo("migrated to " + to);
        JsonNode report = Json.MAPPER.readTree(api("GET", "/vms/counter/migrate", null).body());
        assertThat(report.path("status").asText()).isEqualTo("completed");
        assertThat(report.path("downtime_ms").asLong()).isPositive();

        await("ticks at the destination", Patience.seconds(60), () -> ticks(destSerial).size() >= 3);
        assertThat(ticks(destSerial).getFirst()).as("the count goes on from %d, no reboot", lastHere)
                .isBetween(lastHere, lastHere + 2);

        RawHttp.Reply again = api("POST", "/vms/counter/start", null);
        assertThat(again.status()).as(again.raw()).isEqualTo(409);
        assertThat(again.body()).contains("was migrated to " + to).contains("jkvm vm delete counter");
    }

    private JsonNode state() {
        try {
            return Json.MAPPER.readTree(api("GET", "/vms/counter", null).body()).path("status");
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static String read(Path p) {
        try {
            return Files.readString(p, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return "";
        }
    }
}
