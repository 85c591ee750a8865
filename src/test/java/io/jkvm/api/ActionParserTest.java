package io.jkvm.api;

import com.fasterxml.jackson.databind.JsonNode;
import io.jkvm.api.VmmAction.*;
import io.jkvm.config.HostLimits;
import io.jkvm.config.OnReboot;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@link ActionParser}: every route becomes its action, a known path with another method is
 * Firecracker's 400, an unknown path a 404, and both are {@code fault_message} JSON through the
 * router. {@link ActionRequest} is its inverse for every action type.
 */
class ActionParserTest {
    private static final RateLimiter NO_LIMIT = null;

    /** One instance of every action type (the test below checks none is missing). */
    static List<VmmAction> samples() {
        return List.of(
                new ConfigureBootSource(new BootSource("/k", "/i", "console=ttyS0")),
                new ConfigureMachine(new MachineConfiguration(2, 256, false, true, null, "None")),
                new UpdateMachine(new MachineConfiguration(null, 512, null, null, null, null)),
                new InsertDrive("rootfs", new Drive("rootfs", "/r.img", true, false, null, "Unsafe", "Sync", NO_LIMIT, null)),
                new InsertNetworkInterface("eth0", new NetworkInterface("eth0", "tap0", "06:00:ac:10:00:02", null, null)),
                new ConfigureLogger(new LoggerConfig("/tmp/log", "Info", null, null, null)),
                new ConfigureMetrics(new MetricsConfig("/tmp/metrics")),
                new ConfigureEntropy(new EntropyDevice(null)),
                new ConfigureSerial(new SerialConfig("/tmp/serial", null)),
                new ConfigureVsock(new VsockDevice(3L, "/tmp/v.sock", "vsock0")),
                new ConfigureMmds(new MmdsConfig("V2", List.of("eth0"), "169.254.169.254", true)),
                new PutMmds(Json.parse("{\"latest\":{\"a\":\"b\"}}".getBytes(), com.fasterxml.jackson.databind.JsonNode.class)),
                new PatchMmds(Json.parse("{\"latest\":null}".getBytes(), com.fasterxml.jackson.databind.JsonNode.class)),
                new GetMmds(),
                new ConfigureBalloon(new BalloonDevice(64L, true, 1L, false, false)),
                new UpdateBalloon(new BalloonUpdate(32L)),
                new UpdateBalloonStatistics(new BalloonStatsUpdate(5L)),
                new GetBalloonStats(), new GetBalloonConfig(),
                new ConfigureCpu(new CpuConfig(List.of("7"), List.of(new CpuConfig.CpuidLeaf("0x1", "0x0", 0,
                        List.of(new CpuConfig.Register("ecx", "0b0")))), List.of(new CpuConfig.Msr("0x10a", "0b1")))),
                new UpdateDrive("rootfs", new DriveUpdate("rootfs", "/r2.img", null)),
                new UpdateNetworkInterface("eth0", new NetworkInterfaceUpdate("eth0", null, null)),
                new InstanceStart(), new SendCtrlAltDel(), new FlushMetrics(), new Pause(), new Resume(),
                new CreateSnapshot(new SnapshotCreateParams("Full", "/s", "/m", null, true)),
                new LoadSnapshot(new SnapshotLoadParams("/s", new MemoryBackend("File", "/m"), null, null, true)),
                new StartMigration(new MigrateRequest("tcp:127.0.0.1:4444", 300L, null, null, null)),
                new CancelMigration(),
                new GetInstanceInfo(), new GetVersion(), new GetMachineConfig(), new GetVmConfig(),
                new GetScreenshot(), new GetMigrationStatus(), new GetVcpuReport(), new GetMetrics());
    }

    @Test
    void samplesCoverEveryActionType() {
        Set<Class<?>> leaves = new HashSet<>();
        Deque<Class<?>> todo = new ArrayDeque<>(List.of(VmmAction.class));
        while (!todo.isEmpty()) {
            Class<?> c = todo.pop();
            if (c.isSealed()) {
                todo.addAll(List.of(c.getPermittedSubclasses()));
            } else {
                leaves.add(c);
            }
        }
        assertThat(samples()).extracting(Object::getClass).containsExactlyInAnyOrderElementsOf(leaves);
    }

    @Test
    void everyActionSurvivesTheTripThroughItsRequest() {
        for (VmmAction a : samples()) {
            ActionRequest r = ActionRequest.of(a);
            assertThat(ActionParser.parse(r.method(), r.path(), r.bodyBytes())).as(r.method() + " " + r.path()).isEqualTo(a);
        }
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', textBlock = """
            GET   | /                        |                                         | GetInstanceInfo
            GET   | /version                 |                                         | GetVersion
            PUT   | /boot-source             | {"kernel_image_path": "/k"}             | ConfigureBootSource
            GET   | /machine-config          |                                         | GetMachineConfig
            GET   | /vm/screenshot           |                                         | GetScreenshot
            PUT   | /machine-config          | {"vcpu_count": 1, "mem_size_mib": 32}   | ConfigureMachine
            PATCH | /machine-config/         | {"smt": false}                          | UpdateMachine
            PUT   | /actions                 | {"action_type": "InstanceStart"}        | InstanceStart
            PUT   | /actions                 | {"action_type": "SendCtrlAltDel"}       | SendCtrlAltDel
            PUT   | /actions                 | {"action_type": "FlushMetrics"}         | FlushMetrics
            PATCH | /vm                      | {"state": "Paused"}                     | Pause
            PATCH | /vm                      | {"state": "Resumed"}                    | Resume
            GET   | /vm/config               |                                         | GetVmConfig
            PUT   | /logger                  | {"log_path": "/tmp/l"}                  | ConfigureLogger
            PUT   | /metrics                 | {"metrics_path": "/tmp/m"}              | ConfigureMetrics
            PUT   | /entropy                 | {}                                      | ConfigureEntropy
            PUT   | /serial                  | {"serial_out_path": "/tmp/s"}           | ConfigureSerial
            PUT   | /migrate                 | {"destination": "tcp:127.0.0.1:1"}      | StartMigration
            GET   | /migrate                 |                                         | GetMigrationStatus
            PUT   | /migrate/cancel          |                                         | CancelMigration
            PUT   | /snapshot/create         | {"snapshot_path": "/s"}                 | CreateSnapshot
            PUT   | /snapshot/load           | {"snapshot_path": "/s"}                 | LoadSnapshot
            GET   | /jkvm/vcpus              |                                         | GetVcpuReport
            GET   | /jkvm/metrics            |                                         | GetMetrics
            PUT   | /drives/rootfs           | {"drive_id": "rootfs"}                  | InsertDrive
            PATCH | /drives/rootfs           | {"drive_id": "rootfs"}                  | UpdateDrive
            PUT   | /network-interfaces/eth0 | {"iface_id": "eth0"}                    | InsertNetworkInterface
            PATCH | /network-interfaces/eth0 | {"iface_id": "eth0"}                    | UpdateNetworkInterface
            PUT   | /balloon                 | {"amount_mib": 0}                       | ConfigureBalloon
            GET   | /balloon                 |                                         | GetBalloonConfig
            PATCH | /balloon                 | {"amount_mib": 0}                       | UpdateBalloon
            GET   | /balloon/statistics      |                                         | GetBalloonStats
            PATCH | /balloon/statistics      | {"stats_polling_interval_s": 1}         | UpdateBalloonStatistics
            """)
    void everyRouteBecomesItsAction(String method, String path, String body, String action) {
        VmmAction a = ActionParser.parse(method, path, body == null ? null : body.getBytes(StandardCharsets.UTF_8));
        assertThat(a.name()).isEqualTo(action);
    }

    @Test
    void theIdInThePathIsKept() {
        assertThat(ActionParser.parse("PUT", "/drives/data", "{\"drive_id\": \"x\"}".getBytes()))
                .isInstanceOfSatisfying(InsertDrive.class, d -> assertThat(d.pathId()).isEqualTo("data"));
        assertThat(ActionParser.parse("PATCH", "/network-interfaces/eth1", "{\"iface_id\": \"eth1\"}".getBytes()))
                .isInstanceOfSatisfying(UpdateNetworkInterface.class, n -> assertThat(n.pathId()).isEqualTo("eth1"));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', textBlock = """
            DELETE | /boot-source
            GET    | /boot-source
            POST   | /
            PUT    | /jkvm/vcpus
            DELETE | /machine-config
            GET    | /actions
            GET    | /drives/rootfs
            DELETE | /network-interfaces/eth0
            PATCH  | /migrate
            GET    | /migrate/cancel
            DELETE | /balloon
            PUT    | /balloon/statistics
            """)
    void aKnownPathWithAnotherMethodIsA400NamingTheRequest(String method, String path) throws IOException {
        assertThatThrownBy(() -> ActionParser.parse(method, path, null)).isInstanceOfSatisfying(ApiException.class, e -> {
            assertThat(e.kind()).isEqualTo(ApiException.Kind.BAD_REQUEST);
            assertThat(e.getMessage()).isEqualTo("Invalid request method and/or path: " + method + " " + path);
        });
        ApiResponse r = router().handle(method, path, null);
        assertThat(r.status()).isEqualTo(400);
        assertThat(fault(r)).startsWith("Invalid request method and/or path");
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', textBlock = """
            GET | /nope
            PUT | /drives
            PUT | /drives/a/b
            GET | /network-interfaces
            GET | /vm/config/extra
            GET | /jkvm
            """)
    void anUnknownPathIsA404(String method, String path) throws IOException {
        assertThatThrownBy(() -> ActionParser.parse(method, path, null)).isInstanceOfSatisfying(ApiException.class,
                e -> assertThat(e.kind()).isEqualTo(ApiException.Kind.NOT_FOUND));
        ApiResponse r = router().handle(method, path, null);
        assertThat(r.status()).isEqualTo(404);
        assertThat(fault(r)).contains("no such endpoint", path);
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', textBlock = """
            PATCH | /balloon/hinting/start     | free page hinting
            GET   | /balloon/hinting/status    | free page hinting
            PUT   | /pmem/pmem0                | virtio-pmem
            PUT   | /hotplug/memory            | memory hot-plug
            """)
    void firecrackerResourcesJkvmDoesNotOfferAreA400SayingSo(String method, String path, String what) throws IOException {
        ApiResponse r = router().handle(method, path, null);
        assertThat(r.status()).isEqualTo(400);
        assertThat(fault(r)).contains(path, what, "jkvm does not offer yet");
    }

    @Test
    void aLongUnknownPathIsAbbreviatedInTheMessage() {
        String path = "/" + "x".repeat(5000);
        assertThatThrownBy(() -> ActionParser.parse("GET", path, null)).hasMessageContaining("...")
                .satisfies(e -> assertThat(e.getMessage().length()).isLessThan(300));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', textBlock = """
            PUT   | /actions | {}                               | missing field 'action_type'   | action_type
            PUT   | /actions | {"action_type": "Reboot"}        | not one of InstanceStart      | action_type
            PATCH | /vm      | {}                               | missing field 'state'         | state
            PATCH | /vm      | {"state": "Running"}             | not one of Paused, Resumed    | state
            """)
    void actionBodiesAreCheckedByTheParserNamingTheField(String method, String path, String body, String message,
            String field) {
        assertThatThrownBy(() -> ActionParser.parse(method, path, body.getBytes(StandardCharsets.UTF_8)))
                .isInstanceOfSatisfying(ApiException.class, e -> {
                    assertThat(e.getMessage()).contains(message);
                    assertThat(e.field()).isEqualTo(field);
                    assertThat(e.status()).isEqualTo(400);
                });
    }

    @Test
    void aMalformedBodyIsA400BeforeAnyActionExists() throws IOException {
        ApiResponse r = router().handle("PUT", "/boot-source", "{\"kernel_image_path\": ".getBytes());
        assertThat(r.status()).isEqualTo(400);
        assertThat(fault(r)).contains("malformed JSON");
    }

    private static ApiRouter router() {
        EventLog quiet = new EventLog("test", new ByteArrayOutputStream(), null);
        GuestLauncher none = spec -> {
            throw new IllegalStateException("not started in this test");
        };
        return new ApiRouter(new VmmController("parse", new HostLimits(4, 8L << 30), none, quiet, OnReboot.EXIT), quiet);
    }

    private static String fault(ApiResponse r) throws IOException {
        JsonNode body = Json.MAPPER.readTree(r.json());
        return body.path("fault_message").asText();
    }
}
