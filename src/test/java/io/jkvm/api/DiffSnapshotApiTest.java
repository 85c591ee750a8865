package io.jkvm.api;

import io.jkvm.config.HostLimits;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VmConfig;
import io.jkvm.snapshot.SnapshotKey;
import io.jkvm.vmm.VmMetrics;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The API side of Diff snapshots, over a fake guest: Firecracker's rules (a Diff needs
 * track_dirty_pages and a paused microVM; jkvm's Diffs are clear only) and what reaches the VMM.
 */
class DiffSnapshotApiTest {
    @TempDir
    Path dir;

    private final List<SnapshotRequest> snapshots = new CopyOnWriteArrayList<>();
    private final List<GuestSpec> launched = new CopyOnWriteArrayList<>();
    private final List<SnapshotRequest> loads = new CopyOnWriteArrayList<>();

    private ApiRouter api() {
        EventLog quiet = new EventLog("test", new ByteArrayOutputStream(), null);
        GuestLauncher launcher = new GuestLauncher() {
            @Override
            public RunningGuest launch(GuestSpec spec) {
                launched.add(spec);
                return guest();
            }

            @Override
            public Restored restore(SnapshotRequest r, boolean resume, io.jkvm.mmds.MmdsStore mmds) {
                loads.add(r);
                return new Restored(guest(), new VmConfig(Path.of("/vmlinux"), Optional.empty(), "console=ttyS0", 1,
                        128L << 20, OnReboot.EXIT, false));
            }
        };
        VmmController vmm = new VmmController("t", new HostLimits(4, 8L << 30), launcher, quiet, OnReboot.EXIT);
        vmm.setSnapshotKey(SnapshotKey.of(new byte[32]));
        return new ApiRouter(vmm, quiet);
    }

    private RunningGuest guest() {
        return new RunningGuest() {
            private volatile boolean paused;

            public void pause() {
                paused = true;
            }

            public void resume() {
                paused = false;
            }

            public boolean isPaused() {
                return paused;
            }

            public boolean sendCtrlAltDel() {
                return false;
            }

            public VmMetrics metrics() {
                return new VmMetrics(1, 1, Map.of(), Map.of(), 1);
            }

            public void snapshot(SnapshotRequest r) {
                snapshots.add(r);
            }
        };
    }

    private void boot(ApiRouter api, boolean track) throws Exception {
        Path kernel = Files.write(dir.resolve("vmlinux"), new byte[] {0x7f, 'E', 'L', 'F'});
        assertThat(api.handle("PUT", "/machine-config", ("{\"vcpu_count\": 1, \"mem_size_mib\": 128,"
                + " \"track_dirty_pages\": " + track + "}").getBytes()).status()).isEqualTo(204);
        api.handle("PUT", "/boot-source", ("{\"kernel_image_path\": \"" + kernel + "\"}").getBytes());
        assertThat(api.handle("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}".getBytes()).status()).isEqualTo(204);
    }

    private static String fault(ApiResponse r) throws Exception {
        assertThat(r.status()).isEqualTo(400);
        return Json.MAPPER.readTree(r.json()).path("fault_message").asText();
    }

    private byte[] create(String type, boolean encrypt) {
        return ("{\"snapshot_type\": \"" + type + "\", \"snapshot_path\": \"" + dir.resolve("s") + "\","
                + " \"mem_file_path\": \"" + dir.resolve("m") + "\"" + (encrypt ? ", \"encrypt\": true" : "") + "}").getBytes();
    }

    @Test
    void aDiffWithoutTrackDirtyPagesIsRefusedNamingTheField() throws Exception {
        ApiRouter api = api();
        boot(api, false);
        assertThat(launched.getFirst().trackDirtyPages()).isFalse();
        api.handle("PATCH", "/vm", "{\"state\": \"Paused\"}".getBytes());
        assertThat(fault(api.handle("PUT", "/snapshot/create", create("Diff", false)))).contains("track_dirty_pages");
        assertThat(fault(api.handle("PUT", "/snapshot/create", create("Incremental", false)))).contains("snapshot_type");
        assertThat(snapshots).isEmpty();
    }

    @Test
    void aDiffOfATrackedPausedVmReachesTheVmmClear() throws Exception {
        ApiRouter api = api();
        boot(api, true);
        assertThat(launched.getFirst().trackDirtyPages()).isTrue();
        assertThat(fault(api.handle("PUT", "/snapshot/create", create("Diff", false)))).contains("paused");
        assertThat(api.handle("PATCH", "/vm", "{\"state\": \"Paused\"}".getBytes()).status()).isEqualTo(204);
        assertThat(fault(api.handle("PUT", "/snapshot/create", create("Diff", true)))).contains("encrypt");
        assertThat(api.handle("PUT", "/snapshot/create", create("Diff", false)).status()).isEqualTo(204);
        assertThat(api.handle("PUT", "/snapshot/create", create("Full", false)).status()).isEqualTo(204);
        assertThat(snapshots).extracting(SnapshotRequest::diff).containsExactly(true, false);
        assertThat(Json.MAPPER.readTree(api.handle("GET", "/vm/config", null).json())
                .path("machine-config").path("track_dirty_pages").asBoolean()).isTrue();
    }

    @Test
    void enableDiffSnapshotsOnLoadTurnsTrackingOnForTheRestoredVm() throws Exception {
        Path st = Files.write(dir.resolve("in.state"), new byte[1]), mm = Files.write(dir.resolve("in.mem"), new byte[1]);
        for (boolean enable : new boolean[] {false, true}) {
            ApiRouter api = api();
            assertThat(api.handle("PUT", "/snapshot/load", ("{\"snapshot_path\": \"" + st + "\", \"mem_file_path\": \""
                    + mm + "\", \"enable_diff_snapshots\": " + enable + "}").getBytes()).status()).isEqualTo(204);
            assertThat(loads.getLast().trackDirtyPages()).isEqualTo(enable);
            if (enable) {
                assertThat(api.handle("PUT", "/snapshot/create", create("Diff", false)).status()).isEqualTo(204);
                assertThat(snapshots.getLast().diff()).isTrue();
            } else {
                assertThat(fault(api.handle("PUT", "/snapshot/create", create("Diff", false)))).contains("track_dirty_pages");
            }
        }
    }
}
