package io.jkvm.api;

import com.fasterxml.jackson.databind.JsonNode;
import io.jkvm.api.VmmAction.*;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code /mmds} and {@code /mmds/config} as Firecracker serves them: the store set, patched and
 * read in every state; its configuration pre-boot only, every field checked with a 400 naming
 * it; a store over its limit a 413; the configuration file's {@code mmds-config} section and
 * {@code GET /vm/config}.
 */
class MmdsApiConformanceTest {
    @TempDir
    Path dir;
    private RecordingController controller;
    private ApiRouter router;

    @BeforeEach
    void setUp() {
        controller = new RecordingController();
        router = new ApiRouter(controller.vmm, new EventLog("test", new ByteArrayOutputStream(), null));
    }

    private ApiResponse call(String method, String path, String body) {
        return router.handle(method, path, body == null ? null : body.getBytes());
    }

    private static JsonNode json(ApiResponse r) throws IOException {
        return Json.MAPPER.readTree(r.json());
    }

    private static String fault(ApiResponse r) throws IOException {
        return json(r).path("fault_message").asText();
    }

    private void nic(String id, String tap) {
        assertThat(call("PUT", "/network-interfaces/" + id, "{\"iface_id\": \"" + id + "\", \"host_dev_name\": \"" + tap
                + "\"}").status()).isEqualTo(204);
    }

    @Test
    void putPatchAndGetTheStoreWithKeysInOrder() throws IOException {
        assertThat(call("GET", "/mmds", null).json()).isEqualTo("{}");
        assertThat(call("PUT", "/mmds", "{\"latest\": {\"meta-data\": {\"b\": \"2\", \"a\": \"1\"}}}").status())
                .isEqualTo(204);
        assertThat(call("PATCH", "/mmds", "{\"latest\": {\"meta-data\": {\"a\": null, \"c\": [1, 2]}}, \"z\": true}")
                .status()).isEqualTo(204);
        ApiResponse r = call("GET", "/mmds", null);
        assertThat(r.status()).isEqualTo(200);
        assertThat(r.json()).isEqualTo("{\"latest\":{\"meta-data\":{\"b\":\"2\",\"c\":[1,2]}},\"z\":true}");
        assertThat(call("PUT", "/mmds", "{\"x\": \"y\"}").status()).isEqualTo(204);
        assertThat(call("GET", "/mmds", null).json()).isEqualTo("{\"x\":\"y\"}");
    }

    @Test
    void patchBeforeAnyPutIsRefused() throws IOException {
        ApiResponse r = call("PATCH", "/mmds", "{\"a\": \"b\"}");
        assertThat(r.status()).isEqualTo(400);
        assertThat(fault(r)).contains("not initialized");
    }

    @Test
    void aStoreOverItsLimitIsA413AndLeavesTheStoreAsItWas() throws IOException {
        controller.vmm.setMmdsSizeLimit(20);
        assertThat(call("PUT", "/mmds", "{\"a\": \"0123456789\"}").status()).isEqualTo(204); // 18 bytes
        ApiResponse r = call("PATCH", "/mmds", "{\"b\": \"c\"}");
        assertThat(r.status()).isEqualTo(413);
        assertThat(fault(r)).contains("limit of 20 bytes");
        assertThat(call("PUT", "/mmds", "{\"a\": \"01234567890123456789\"}").status()).isEqualTo(413);
        assertThat(call("GET", "/mmds", null).json()).isEqualTo("{\"a\":\"0123456789\"}");
    }

    @Test
    void theDefaultLimitIsTheApiBodyLimit() {
        assertThat(controller.vmm.handle(new GetMmds())).isNotNull();
        VmConfiguration c = new VmConfiguration("x", new io.jkvm.config.HostLimits(1, 1L << 30),
                io.jkvm.config.OnReboot.EXIT, new EventLog("t", new ByteArrayOutputStream(), null));
        assertThat(c.mmds().limit()).isEqualTo(UdsHttpServer.MAX_BODY);
    }

    @Test
    void theConfigurationIsCheckedNormalizedAndShown() throws IOException {
        nic("eth0", "tap0");
        assertThat(call("PUT", "/mmds/config", "{\"network_interfaces\": [\"eth0\"]}").status()).isEqualTo(204);
        JsonNode c = json(call("GET", "/vm/config", null)).path("mmds-config");
        assertThat(c.path("version").asText()).isEqualTo("V1");
        assertThat(c.path("ipv4_address").asText()).isEqualTo("169.254.169.254");
        assertThat(c.path("network_interfaces").get(0).asText()).isEqualTo("eth0");
        assertThat(c.path("imds_compat").asBoolean(true)).isFalse();
        assertThat(call("PUT", "/mmds/config", "{\"network_interfaces\": [\"eth0\"], \"version\": \"V2\","
                + " \"ipv4_address\": \"169.254.170.2\", \"imds_compat\": true}").status()).isEqualTo(204);
        c = json(call("GET", "/vm/config", null)).path("mmds-config");
        assertThat(c.path("version").asText()).isEqualTo("V2");
        assertThat(c.path("ipv4_address").asText()).isEqualTo("169.254.170.2");
        assertThat(c.path("imds_compat").asBoolean()).isTrue();
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', textBlock = """
            {}                                                             | network_interfaces
            {"network_interfaces": []}                                     | network_interfaces
            {"network_interfaces": ["eth1"]}                               | network_interfaces
            {"network_interfaces": ["eth0"], "version": "V3"}              | version
            {"network_interfaces": ["eth0"], "ipv4_address": "10.0.0.1"}   | ipv4_address
            {"network_interfaces": ["eth0"], "ipv4_address": "169.254.0.1"} | ipv4_address
            {"network_interfaces": ["eth0"], "ipv4_address": "169.254.255.1"} | ipv4_address
            {"network_interfaces": ["eth0"], "ipv4_address": "169.254.1"}  | ipv4_address
            {"network_interfaces": ["eth0"], "ipv4_address": "169.254.1.256"} | ipv4_address
            {"network_interfaces": ["eth0"], "imds_compat": "yes"}         | imds_compat
            {"network_interfaces": ["eth0"], "mac": "x"}                   | mac
            """)
    void everyBadFieldIsA400NamingIt(String body, String field) throws IOException {
        nic("eth0", "tap0");
        ApiResponse r = call("PUT", "/mmds/config", body);
        assertThat(r.status()).as(body).isEqualTo(400);
        assertThat(fault(r)).as(body).contains(field);
    }

    @Test
    void theConfigurationIsPreBootOnlyButTheStoreIsNot() throws IOException {
        controller.bootSource(dir);
        nic("eth0", "tap0");
        assertThat(call("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}").status()).isEqualTo(204);
        ApiResponse r = call("PUT", "/mmds/config", "{\"network_interfaces\": [\"eth0\"]}");
        assertThat(r.status()).isEqualTo(400);
        assertThat(fault(r)).contains("not supported after starting");
        assertThat(call("PUT", "/mmds", "{\"k\": \"v\"}").status()).isEqualTo(204);
        assertThat(call("PATCH", "/mmds", "{\"k\": \"w\"}").status()).isEqualTo(204);
        assertThat(call("GET", "/mmds", null).json()).isEqualTo("{\"k\":\"w\"}");
    }

    @Test
    void startWithTheMmdsBindsItsInterfacesAndMigrationIsRefused() throws IOException {
        controller.bootSource(dir);
        nic("eth0", "tap0");
        nic("eth1", "tap1");
        assertThat(call("PUT", "/mmds/config", "{\"network_interfaces\": [\"eth1\"], \"ipv4_address\": \"169.254.170.2\"}")
                .status()).isEqualTo(204);
        assertThat(call("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}").status()).isEqualTo(204);
        io.jkvm.mmds.MmdsBinding b = controller.launched.get().mmds();
        assertThat(b.taps()).containsExactly("tap1");
        assertThat(b.address()).isEqualTo(io.jkvm.mmds.LinkLocal.parse("169.254.170.2"));
        assertThat(b.stackFor("tap0")).isNull();
        assertThat(b.state()).isEqualTo(new io.jkvm.mmds.MmdsState(io.jkvm.mmds.LinkLocal.parse("169.254.170.2"),
                io.jkvm.mmds.MmdsVersion.V1, false, List.of("eth1"), List.of("tap1")));
        ApiResponse r = call("PUT", "/migrate", "{\"destination\": \"tcp:127.0.0.1:4444\"}");
        assertThat(r.status()).isEqualTo(400);
        assertThat(fault(r)).contains("MMDS");
    }

    @Test
    void aSnapshotLoadRestoresTheMmdsConfigurationButNotTheDocument() throws IOException {
        io.jkvm.mmds.MmdsState saved = new io.jkvm.mmds.MmdsState(io.jkvm.mmds.LinkLocal.DEFAULT, io.jkvm.mmds.MmdsVersion.V2,
                true, List.of("eth0"), List.of("tap0"));
        Path kernel = StandInGuest.kernelFile(dir);
        java.util.concurrent.atomic.AtomicReference<io.jkvm.mmds.MmdsStore> given = new java.util.concurrent.atomic.AtomicReference<>();
        GuestLauncher launcher = new GuestLauncher() {
            @Override
            public RunningGuest launch(GuestSpec spec) {
                throw new IllegalStateException("not booted here");
            }

            @Override
            public Restored restore(SnapshotRequest r, boolean resume, io.jkvm.mmds.MmdsStore mmds) {
                given.set(mmds);
                saved.bindTo(mmds);
                return new Restored(new IdleGuest(), new io.jkvm.config.VmConfig(kernel,
                        java.util.Optional.empty(), "console=ttyS0", 1, 128L << 20, io.jkvm.config.OnReboot.EXIT, false), saved);
            }
        };
        EventLog quiet = new EventLog("t", new ByteArrayOutputStream(), null);
        VmmController vmm = new VmmController("t", new io.jkvm.config.HostLimits(4, 8L << 30), launcher, quiet,
                io.jkvm.config.OnReboot.EXIT);
        vmm.setSnapshotKey(io.jkvm.snapshot.SnapshotKey.of(new byte[32]));
        ApiRouter api = new ApiRouter(vmm, quiet);
        Files.writeString(dir.resolve("s"), "x");
        Files.writeString(dir.resolve("m"), "x");
        ApiResponse r = api.handle("PUT", "/snapshot/load", ("{\"snapshot_path\": \"" + dir.resolve("s")
                + "\", \"mem_backend\": {\"backend_type\": \"File\", \"backend_path\": \"" + dir.resolve("m") + "\"}}").getBytes());
        assertThat(r.status()).as(r.json()).isEqualTo(204);
        JsonNode c = json(api.handle("GET", "/vm/config", null)).path("mmds-config");
        assertThat(c.path("version").asText()).isEqualTo("V2");
        assertThat(c.path("imds_compat").asBoolean()).isTrue();
        assertThat(c.path("network_interfaces").get(0).asText()).isEqualTo("eth0");
        assertThat(given.get().version()).isEqualTo(io.jkvm.mmds.MmdsVersion.V2);
        assertThat(api.handle("GET", "/mmds", null).json()).as("the document is not in snapshots").isEqualTo("{}");
    }

    @Test
    void otherMethodsAreRefusedAsFirecrackerRefusesThem() throws IOException {
        assertThat(call("DELETE", "/mmds", null).status()).isEqualTo(400);
        assertThat(call("GET", "/mmds/config", null).status()).isEqualTo(400);
        assertThat(call("PUT", "/mmds/other", "{}").status()).isEqualTo(404);
    }

    @Test
    void theConfigFileSectionComesAfterTheInterfacesAndRoundTrips() throws IOException {
        Path kernel = StandInGuest.kernelFile(dir);
        Path file = Files.writeString(dir.resolve("vm.json"), """
                {"boot-source": {"kernel_image_path": "%s"},
                 "network-interfaces": [{"iface_id": "eth0", "host_dev_name": "tap0"}],
                 "mmds-config": {"network_interfaces": ["eth0"], "version": "V2"}}
                """.formatted(kernel));
        FullVmConfiguration doc = ConfigFile.read(file);
        List<VmmAction.Configure> actions = ConfigFile.actions(doc);
        assertThat(actions.getLast()).isInstanceOf(ConfigureMmds.class);
        ConfigFile.apply(doc, controller.vmm);
        FullVmConfiguration shown = (FullVmConfiguration) controller.vmm.handle(new GetVmConfig());
        assertThat(shown.mmdsConfig()).isEqualTo(new MmdsConfig("V2", List.of("eth0"), "169.254.169.254", false));
        assertThat(Json.write(shown)).contains("\"mmds-config\":{\"version\":\"V2\",\"network_interfaces\":[\"eth0\"],"
                + "\"ipv4_address\":\"169.254.169.254\",\"imds_compat\":false}");
        // What GET /vm/config shows is a configuration file that boots again.
        ConfigFile.validate(Json.MAPPER.readValue(Json.write(shown), FullVmConfiguration.class),
                new io.jkvm.config.HostLimits(4, 8L << 30));
    }

    @Test
    void actionRequestsRoundTripThroughTheParser() {
        for (VmmAction a : List.of(new GetMmds(), new ConfigureMmds(new MmdsConfig("V2", List.of("eth0"), null, null)),
                new PutMmds(Json.parse("{\"a\":{\"b\":\"c\"}}".getBytes(), JsonNode.class)),
                new PatchMmds(Json.parse("{\"a\":null}".getBytes(), JsonNode.class)))) {
            ActionRequest r = ActionRequest.of(a);
            assertThat(ActionParser.parse(r.method(), r.path(), r.bodyBytes())).isEqualTo(a);
        }
    }
}
