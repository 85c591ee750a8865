package io.jkvm.migration;

import io.jkvm.testing.Patience;
import com.fasterxml.jackson.databind.JsonNode;
import io.jkvm.api.ApiResponse;
import io.jkvm.api.ApiRouter;
import io.jkvm.api.EventLog;
import io.jkvm.api.GuestLauncher;
import io.jkvm.api.HttpReply;
import io.jkvm.api.Json;
import io.jkvm.api.RunningGuest;
import io.jkvm.api.UdsHttpServer;
import io.jkvm.api.VmmController;
import io.jkvm.cli.Cli;
import io.jkvm.config.HostLimits;
import io.jkvm.config.OnReboot;
import io.jkvm.snapshot.CounterGuest;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.vmm.VmMetrics;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Migration through the per-VM API and the CLI, with the counter guest standing in for a Linux VM
 * (a fake launcher gives the API a {@link MigrationSource} over it): request validation, and a
 * migration to a destination in another JVM driven by {@code jkvm migrate} over the API socket.
 */
@Tag("kvm")
class MigrationApiDirectTest {
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

    /** The source VMM: an API whose guest is the counter guest; {@code checksum} gets RAM's hash at the pause. */
    static ApiRouter sourceApi(List<MigrationDirectTest.Source> started, AtomicReference<String> checksum) {
        EventLog quiet = new EventLog("test", new ByteArrayOutputStream(), null);
        GuestLauncher launcher = spec -> {
            MigrationDirectTest.Source src = MigrationDirectTest.Source.start(CounterGuest.RAM);
            started.add(src);
            return new RunningGuest() {
                public void pause() throws InterruptedException {
                    src.machine().pause();
                }

                public void resume() {
                    src.machine().resume();
                }

                public boolean isPaused() {
                    return src.machine().isPaused();
                }

                public boolean sendCtrlAltDel() {
                    return false;
                }

                public VmMetrics metrics() {
                    return new VmMetrics(1, 1, Map.of(), Map.of(), 1);
                }

                public MigrationSource migrationSource() {
                    return MigrationSource.of(src.machine(), () -> {
                        checksum.set(CounterGuest.checksum(src.machine().memory()));
                        return List.of();
                    });
                }
            };
        };
        VmmController vmm = new VmmController("src", new HostLimits(4, 8L << 30), launcher, quiet, OnReboot.EXIT);
        ApiRouter api = new ApiRouter(vmm, quiet);
        return api;
    }

    private void boot(ApiRouter api) throws Exception {
        Path kernel = Files.write(dir.resolve("vmlinux"), new byte[] {0x7f, 'E', 'L', 'F'});
        api.handle("PUT", "/boot-source", ("{\"kernel_image_path\": \"" + kernel + "\"}").getBytes());
        assertThat(api.handle("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}".getBytes()).status()).isEqualTo(204);
    }

    private static String fault(ApiResponse r) throws Exception {
        assertThat(r.status()).isEqualTo(400);
        return Json.MAPPER.readTree(r.json()).path("fault_message").asText();
    }

    @Test
    void badMigrateRequestsAreRefusedNamingTheField() throws Exception {
        List<MigrationDirectTest.Source> started = new java.util.ArrayList<>();
        ApiRouter api = sourceApi(started, new AtomicReference<>());
        try {
            assertThat(fault(api.handle("PUT", "/migrate", "{\"destination\": \"tcp:127.0.0.1:1\"}".getBytes())))
                    .contains("before");
            assertThat(fault(api.handle("GET", "/migrate", null))).isEqualTo("no migration has been started (PUT /migrate)");
            boot(api);
            assertThat(fault(api.handle("PUT", "/migrate", "{}".getBytes()))).isEqualTo("missing field 'destination' (tcp:HOST:PORT)");
            assertThat(fault(api.handle("PUT", "/migrate", "{\"destination\": \"udp:x:1\"}".getBytes())))
                    .isEqualTo("destination: expected tcp:HOST:PORT, got udp:x:1");
            assertThat(fault(api.handle("PUT", "/migrate", "{\"destination\": \"tcp:h:1\", \"max_downtime_ms\": -1}".getBytes())))
                    .isEqualTo("max_downtime_ms: -1 outside 1..3600000");
            assertThat(fault(api.handle("PUT", "/migrate", "{\"destination\": \"tcp:h:1\"}".getBytes())))
                    .contains("tls_cert, tls_key and tls_ca are required");
            assertThat(fault(api.handle("PUT", "/migrate",
                    "{\"destination\": \"tcp:h:1\", \"tls_cert\": \"rel.pem\", \"tls_key\": \"/k\", \"tls_ca\": \"/c\"}".getBytes())))
                    .isEqualTo("tls_cert: must be an absolute path, got rel.pem");
            assertThat(fault(api.handle("PUT", "/migrate", "{\"destination\": \"tcp:h:1\", \"speed\": 1}".getBytes())))
                    .contains("speed");
            assertThat(fault(api.handle("PUT", "/migrate/cancel", null))).isEqualTo("no migration has been started (PUT /migrate)");
        } finally {
            started.forEach(MigrationDirectTest.Source::close);
        }
    }

    @Test
    void jkvmMigrateMovesTheGuestToAnotherProcess() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process dest = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED", Patience.migrationIoTimeoutOption(), "-cp",
                System.getProperty("java.class.path"), DestinationMain.class.getName(), certs.toString())
                .redirectErrorStream(true).start();
        List<MigrationDirectTest.Source> started = new java.util.ArrayList<>();
        AtomicReference<String> checksum = new AtomicReference<>();
        ApiRouter api = sourceApi(started, checksum);
        Path sock = dir.resolve("api.sock");
        try (BufferedReader out = new BufferedReader(new InputStreamReader(dest.getInputStream(), StandardCharsets.UTF_8));
             UdsHttpServer server = UdsHttpServer.start(sock,
                     (method, path, query, body) -> HttpReply.of(api.handle(method, path, body)), 4, Patience.seconds(30))) {
            String port = null;
            StringBuilder log = new StringBuilder();
            for (String line; port == null && (line = out.readLine()) != null; ) {
                log.append(line).append('\n');
                if (line.startsWith("PORT ")) {
                    port = line.substring(5);
                }
            }
            assertThat(port).as("destination listening; its output: %s", log).isNotNull();
            boot(api);
            CommandLine cl = Cli.commandLine();
            StringWriter cliOut = new StringWriter(), cliErr = new StringWriter();
            cl.setOut(new PrintWriter(cliOut));
            cl.setErr(new PrintWriter(cliErr));
            int status = cl.execute("migrate", "--api-sock", sock.toString(), "--to", "tcp:127.0.0.1:" + port,
                    "--max-downtime-ms", "300", "--tls-cert", certs.resolve("source.pem").toString(),
                    "--tls-key", certs.resolve("source.key").toString(), "--tls-ca", certs.resolve("ca.pem").toString());
            System.out.println(cliOut);
            assertThat(status).as("jkvm migrate: %s %s", cliOut, cliErr).isZero();
            assertThat(cliOut.toString()).startsWith("migration completed to tcp:127.0.0.1:" + port);
            JsonNode report = Json.MAPPER.readTree(cliOut.toString().substring(cliOut.toString().indexOf('{')));
            assertThat(report.path("status").asText()).isEqualTo("completed");
            assertThat(report.path("rounds").asInt()).isGreaterThanOrEqualTo(1);
            assertThat(report.path("downtime_ms").asLong()).isGreaterThanOrEqualTo(0);
            assertThat(report.path("bytes").asLong()).isGreaterThan(0);
            assertThat(started.getFirst().machine().awaitExit(Patience.seconds(30))).as("source stopped").isNotNull();

            String result = null;
            for (String line; result == null && (line = out.readLine()) != null; ) {
                log.append(line).append('\n');
                if (line.startsWith("RESULT ")) {
                    result = line;
                }
            }
            assertThat(dest.waitFor(Patience.secondsOf(60), TimeUnit.SECONDS)).isTrue();
            System.out.println("destination: " + result);
            assertThat(result).as(log.toString()).startsWith("RESULT ok").contains("checksum=" + checksum.get());
        } finally {
            dest.destroyForcibly();
            started.forEach(MigrationDirectTest.Source::close);
        }
    }
}
