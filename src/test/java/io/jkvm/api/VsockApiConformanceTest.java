package io.jkvm.api;

import io.jkvm.api.VmmAction.*;
import io.jkvm.config.VsockConfig;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * {@code PUT /vsock} as Firecracker takes it (its Vsock definition: guest_cid at least 3, uds_path,
 * the deprecated vsock_id): pre-boot only, shown by {@code GET /vm/config}, read from the
 * configuration file's {@code vsock} section, and every bad field refused with a 400 naming it.
 */
class VsockApiConformanceTest {
    @TempDir
    Path dir;
    private VmmController vmm;
    private AtomicReference<GuestSpec> launched;
    private RecordingController controller;

    @BeforeEach
    void controller() {
        controller = new RecordingController();
        vmm = controller.vmm;
        launched = controller.launched;
    }

    private void bootSource() throws IOException {
        controller.bootSource(dir);
    }

    private Object put(String body) {
        return vmm.handle(ActionParser.parse("PUT", "/vsock", body.getBytes()));
    }

    @Test
    void aVsockIsAttachedAtStartAndShownInTheConfiguration() throws IOException {
        bootSource();
        Path uds = dir.resolve("v.sock");
        put("{\"guest_cid\": 3, \"uds_path\": \"" + uds + "\", \"vsock_id\": \"vsock0\"}");
        assertThat(vmm.handle(new GetVmConfig())).isInstanceOfSatisfying(FullVmConfiguration.class, c -> {
            assertThat(c.vsock().guestCid()).isEqualTo(3L);
            assertThat(c.vsock().udsPath()).isEqualTo(uds.toString());
        });
        vmm.handle(new InstanceStart());
        assertThat(launched.get().config().devices().vsock()).isEqualTo(new VsockConfig(3, uds));
    }

    @Test
    void theDeprecatedVsockIdIsOptionalAndALaterPutReplacesTheDevice() throws IOException {
        bootSource();
        put("{\"guest_cid\": 3, \"uds_path\": \"" + dir.resolve("a.sock") + "\"}");
        put("{\"guest_cid\": 4294967295, \"uds_path\": \"" + dir.resolve("b.sock") + "\"}");
        vmm.handle(new InstanceStart());
        assertThat(launched.get().config().devices().vsock()).isEqualTo(new VsockConfig(0xffff_ffffL, dir.resolve("b.sock")));
    }

    @Test
    void badFieldsAreRefusedNamingTheField() {
        String ok = dir.resolve("v.sock").toString();
        String[][] cases = {
            {"{\"guest_cid\": 2, \"uds_path\": \"" + ok + "\"}", "guest_cid"},
            {"{\"guest_cid\": 0, \"uds_path\": \"" + ok + "\"}", "guest_cid"},
            {"{\"guest_cid\": 4294967296, \"uds_path\": \"" + ok + "\"}", "guest_cid"},
            {"{\"guest_cid\": -3, \"uds_path\": \"" + ok + "\"}", "guest_cid"},
            {"{\"uds_path\": \"" + ok + "\"}", "guest_cid"},
            {"{\"guest_cid\": 3, \"uds_path\": \"\"}", "uds_path"},
            {"{\"guest_cid\": 3}", "uds_path"},
            {"{\"guest_cid\": 3, \"uds_path\": \"" + dir.resolve("no/such/dir/v.sock") + "\"}", "uds_path"},
            {"{\"guest_cid\": 3, \"uds_path\": \"" + dir + "\"}", "uds_path"},
            {"{\"guest_cid\": 3, \"uds_path\": \"" + dir.resolve("x".repeat(120)) + "\"}", "uds_path"},
        };
        for (String[] c : cases) {
            assertThatThrownBy(() -> put(c[0])).as(c[0])
                    .isInstanceOfSatisfying(ApiException.class, e -> {
                        assertThat(e.kind()).isEqualTo(ApiException.Kind.BAD_REQUEST);
                        assertThat(e.field()).isEqualTo(c[1]);
                        assertThat(e.getMessage()).contains(c[1]);
                    });
        }
    }

    @Test
    void unknownFieldsAndOtherMethodsAreRefused() {
        assertThatThrownBy(() -> put("{\"guest_cid\": 3, \"uds_path\": \"/tmp/v.sock\", \"cid\": 3}"))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.kind()).isEqualTo(ApiException.Kind.BAD_REQUEST))
                .hasMessageContaining("cid");
        assertThatThrownBy(() -> put("{\"guest_cid\": \"three\", \"uds_path\": \"/tmp/v.sock\"}"))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.kind()).isEqualTo(ApiException.Kind.BAD_REQUEST));
        assertThatThrownBy(() -> ActionParser.parse("GET", "/vsock", new byte[0]))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.kind()).isEqualTo(ApiException.Kind.BAD_REQUEST));
    }

    @Test
    void overHttpARefusalIs400WithAFaultMessageAndASuccess204() {
        EventLog quiet = new EventLog("test", new ByteArrayOutputStream(), null);
        ApiRouter api = new ApiRouter(vmm, quiet);
        ApiResponse bad = api.handle("PUT", "/vsock", "{\"guest_cid\": 1, \"uds_path\": \"/tmp/v.sock\"}".getBytes());
        assertThat(bad.status()).isEqualTo(400);
        assertThat(bad.json()).startsWith("{\"fault_message\":").contains("guest_cid");
        ApiResponse ok = api.handle("PUT", "/vsock",
                ("{\"guest_cid\": 3, \"uds_path\": \"" + dir.resolve("v.sock") + "\"}").getBytes());
        assertThat(ok.status()).isEqualTo(204);
        assertThat(api.handle("GET", "/vm/config", new byte[0]).json()).contains("\"vsock\":{\"guest_cid\":3,\"uds_path\":");
    }

    @Test
    void aRelativeUdsPathIsTakenFromTheWorkingDirectory() throws IOException {
        bootSource();
        put("{\"guest_cid\": 7, \"uds_path\": \"target/relative-vsock.sock\"}");
        vmm.handle(new InstanceStart());
        assertThat(launched.get().config().devices().vsock().udsPath())
                .isEqualTo(Path.of("").toAbsolutePath().resolve("target/relative-vsock.sock"));
    }

    @Test
    void afterStartAPutIsRefusedAsFirecrackerRefusesIt() throws IOException {
        bootSource();
        vmm.handle(new InstanceStart());
        assertThatThrownBy(() -> put("{\"guest_cid\": 3, \"uds_path\": \"" + dir.resolve("v.sock") + "\"}"))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.kind()).isEqualTo(ApiException.Kind.NOT_ALLOWED))
                .hasMessageContaining("ConfigureVsock");
    }

    @Test
    void aSnapshotLoadAfterPutVsockIsRefusedAsFirecrackerRefusesIt() {
        put("{\"guest_cid\": 3, \"uds_path\": \"" + dir.resolve("v.sock") + "\"}");
        assertThatThrownBy(() -> vmm.handle(new LoadSnapshot(new SnapshotLoadParams("/s", new MemoryBackend("File", "/m"),
                null, null, false))))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.kind()).isEqualTo(ApiException.Kind.NOT_ALLOWED))
                .hasMessageContaining("vsock");
    }

    @Test
    void theConfigFileTakesTheVsockSection() throws IOException {
        Path file = Files.writeString(dir.resolve("vm.json"), "{\"boot-source\": {\"kernel_image_path\": \"/k\"},"
                + " \"vsock\": {\"guest_cid\": 5, \"uds_path\": \"/tmp/v.sock\"}}");
        FullVmConfiguration doc = ConfigFile.read(file);
        assertThat(ConfigFile.actions(doc)).contains(new ConfigureVsock(new VsockDevice(5L, "/tmp/v.sock", null)));
        assertThat(Json.parse(Json.write(doc).getBytes(), FullVmConfiguration.class).vsock()).isEqualTo(doc.vsock());
    }
}
