package io.jkvm.api;

import io.jkvm.api.VmmAction.*;
import io.jkvm.config.BalloonConfig;
import io.jkvm.config.HostLimits;
import io.jkvm.config.OnReboot;
import io.jkvm.device.virtio.VirtioBalloon;
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
 * The balloon's API as Firecracker's swagger and rpc_interface.rs define it: {@code PUT /balloon}
 * before boot (amount_mib and deflate_on_oom required, amount_mib at most the guest's memory),
 * {@code GET /balloon} in every state, {@code PATCH /balloon}, {@code PATCH /balloon/statistics}
 * and {@code GET /balloon/statistics} after boot only, statistics not turned on or off after boot,
 * the configuration file's {@code balloon} section and {@code GET /vm/config}. No KVM: the
 * started guest carries a real, inactive {@link VirtioBalloon} made from the launched configuration.
 */
class BalloonApiConformanceTest {
    @TempDir
    Path dir;
    private VmmController vmm;
    private ApiRouter api;
    private final AtomicReference<GuestSpec> launched = new AtomicReference<>();
    private final AtomicReference<VirtioBalloon> device = new AtomicReference<>();

    @BeforeEach
    void controller() throws IOException {
        EventLog quiet = new EventLog("test", new ByteArrayOutputStream(), null);
        GuestLauncher fake = spec -> {
            launched.set(spec);
            BalloonConfig b = spec.config().devices().balloon();
            device.set(b == null ? null : new VirtioBalloon(b.amountMib(), b.deflateOnOom(), b.statsIntervalS()));
            return new IdleGuest() {
                @Override
                public VirtioBalloon balloon() {
                    return device.get();
                }

                @Override
                public void updateBalloon(Long amountMib, long statsIntervalS) {
                    if (statsIntervalS > 0) {
                        device.get().setStatsIntervalS((int) statsIntervalS);
                    }
                    if (amountMib != null) {
                        device.get().setTargetMib(amountMib.intValue());
                    }
                }
            };
        };
        vmm = new VmmController("fc", new HostLimits(4, 8L << 30), fake, quiet, OnReboot.EXIT);
        api = new ApiRouter(vmm, quiet);
        vmm.handle(new ConfigureBootSource(new BootSource(StandInGuest.kernelFile(dir).toString(), null, "console=ttyS0")));
        vmm.handle(new ConfigureMachine(new MachineConfiguration(1, 256, null, null, null, null)));
    }

    private ApiResponse call(String method, String path, String body) {
        return api.handle(method, path, body == null ? new byte[0] : body.getBytes());
    }

    private static void assertRefused(ApiResponse r, String... words) {
        assertThat(r.status()).as(r.json()).isEqualTo(400);
        assertThat(r.json()).startsWith("{\"fault_message\":").contains(words);
    }

    @Test
    void putBeforeBootAttachesTheBalloonAndGetShowsEveryField() {
        assertRefused(call("GET", "/balloon", null), "No balloon device found.");
        assertThat(call("PUT", "/balloon", "{\"amount_mib\": 64, \"deflate_on_oom\": true, \"stats_polling_interval_s\": 1}")
                .status()).isEqualTo(204);
        assertThat(call("GET", "/balloon", null).json()).isEqualTo("{\"amount_mib\":64,\"deflate_on_oom\":true,"
                + "\"stats_polling_interval_s\":1,\"free_page_hinting\":false,\"free_page_reporting\":false}");
        assertThat(call("GET", "/vm/config", null).json()).contains("\"balloon\":{\"amount_mib\":64,");
        // A second PUT replaces the first; the interval defaults to 0.
        assertThat(call("PUT", "/balloon", "{\"amount_mib\": 0, \"deflate_on_oom\": false}").status()).isEqualTo(204);
        vmm.handle(new InstanceStart());
        assertThat(launched.get().config().devices().balloon()).isEqualTo(new BalloonConfig(0, false, 0));
        assertThat(call("GET", "/balloon", null).json()).contains("\"amount_mib\":0,", "\"stats_polling_interval_s\":0");
    }

    @Test
    void badFieldsAreRefusedNamingTheField() {
        String[][] cases = {
            {"{\"deflate_on_oom\": true}", "amount_mib"},
            {"{\"amount_mib\": 1}", "deflate_on_oom"},
            {"{\"amount_mib\": -1, \"deflate_on_oom\": true}", "amount_mib"},
            {"{\"amount_mib\": 257, \"deflate_on_oom\": true}", "amount_mib"},
            {"{\"amount_mib\": 1, \"deflate_on_oom\": true, \"stats_polling_interval_s\": 65536}", "stats_polling_interval_s"},
            {"{\"amount_mib\": 1, \"deflate_on_oom\": true, \"stats_polling_interval_s\": -1}", "stats_polling_interval_s"},
            {"{\"amount_mib\": 1, \"deflate_on_oom\": true, \"free_page_hinting\": true}", "free_page_hinting"},
            {"{\"amount_mib\": 1, \"deflate_on_oom\": true, \"free_page_reporting\": true}", "free_page_reporting"},
            {"{\"amount_mib\": 1, \"deflate_on_oom\": true, \"target\": 3}", "target"},
            {"{\"amount_mib\": \"1\", \"deflate_on_oom\": true}", "amount_mib"},
        };
        for (String[] c : cases) {
            assertRefused(call("PUT", "/balloon", c[0]), c[1]);
        }
        assertRefused(call("GET", "/balloon", null), "No balloon device found.");
        // Free page hinting's endpoints remain Firecracker's that jkvm does not offer.
        assertRefused(call("PATCH", "/balloon/hinting/start", "{}"), "free page hinting");
    }

    @Test
    void theMachineCannotShrinkBelowTheBalloon() {
        call("PUT", "/balloon", "{\"amount_mib\": 128, \"deflate_on_oom\": false}");
        assertRefused(call("PATCH", "/machine-config", "{\"mem_size_mib\": 64}"), "mem_size_mib", "amount_mib");
        assertThat(call("PATCH", "/machine-config", "{\"mem_size_mib\": 128}").status()).isEqualTo(204);
    }

    @Test
    void runtimeRequestsAreRefusedBeforeBootAndPutAfterIt() {
        call("PUT", "/balloon", "{\"amount_mib\": 16, \"deflate_on_oom\": false, \"stats_polling_interval_s\": 2}");
        for (String[] r : new String[][] {{"PATCH", "/balloon", "{\"amount_mib\": 1}", "UpdateBalloon"},
                {"PATCH", "/balloon/statistics", "{\"stats_polling_interval_s\": 1}", "UpdateBalloonStatistics"},
                {"GET", "/balloon/statistics", null, "GetBalloonStats"}}) {
            ApiResponse a = call(r[0], r[1], r[2]);
            assertRefused(a, r[3]);
        }
        vmm.handle(new InstanceStart());
        assertRefused(call("PUT", "/balloon", "{\"amount_mib\": 1, \"deflate_on_oom\": false}"), "ConfigureBalloon");
    }

    @Test
    void patchAfterBootChangesTheTargetTheDeviceShowsAndTheConfigurationKeeps() {
        call("PUT", "/balloon", "{\"amount_mib\": 16, \"deflate_on_oom\": true, \"stats_polling_interval_s\": 2}");
        vmm.handle(new InstanceStart());
        assertThat(call("PATCH", "/balloon", "{\"amount_mib\": 64}").status()).isEqualTo(204);
        assertThat(device.get().targetPages()).isEqualTo(64 * 256);
        assertThat(call("GET", "/balloon", null).json()).contains("\"amount_mib\":64,");
        assertThat(call("GET", "/balloon/statistics", null).json())
                .isEqualTo("{\"target_pages\":16384,\"actual_pages\":0,\"target_mib\":64,\"actual_mib\":0}");
        device.get().restoreState(new VirtioBalloon.State(64 * 256, 32 * 256, 2,
                io.jkvm.device.virtio.BalloonStatistics.NONE.with(5, 1L << 28).with(4, -1), -1), false);
        assertThat(call("GET", "/balloon/statistics", null).json()).isEqualTo("{\"target_pages\":16384,"
                + "\"actual_pages\":8192,\"target_mib\":64,\"actual_mib\":32,\"free_memory\":18446744073709551615,"
                + "\"total_memory\":268435456}");
        assertRefused(call("PATCH", "/balloon", "{\"amount_mib\": 257}"), "amount_mib", "256 MiB");
        assertRefused(call("PATCH", "/balloon", "{}"), "amount_mib");
        assertRefused(call("PATCH", "/balloon", "{\"amount_mib\": 1, \"deflate_on_oom\": true}"), "deflate_on_oom");
        assertThat(device.get().targetPages()).as("refusals change nothing").isEqualTo(64 * 256);

        assertThat(call("PATCH", "/balloon/statistics", "{\"stats_polling_interval_s\": 5}").status()).isEqualTo(204);
        assertThat(device.get().statsIntervalS()).isEqualTo(5);
        assertThat(call("GET", "/balloon", null).json()).contains("\"stats_polling_interval_s\":5");
        assertRefused(call("PATCH", "/balloon/statistics", "{\"stats_polling_interval_s\": 0}"),
                "stats_polling_interval_s", "cannot be enabled/disabled");
        assertRefused(call("PATCH", "/balloon/statistics", "{}"), "stats_polling_interval_s");
    }

    @Test
    void withoutStatisticsTheyCannotBeReadOrTurnedOnAfterBoot() {
        call("PUT", "/balloon", "{\"amount_mib\": 0, \"deflate_on_oom\": false}");
        vmm.handle(new InstanceStart());
        assertRefused(call("GET", "/balloon/statistics", null), "not enabled");
        assertRefused(call("PATCH", "/balloon/statistics", "{\"stats_polling_interval_s\": 1}"),
                "stats_polling_interval_s", "cannot be enabled/disabled");
    }

    @Test
    void withoutABalloonEveryBalloonRequestAfterBootSaysThereIsNone() {
        vmm.handle(new InstanceStart());
        assertRefused(call("GET", "/balloon", null), "No balloon device found.");
        assertRefused(call("PATCH", "/balloon", "{\"amount_mib\": 1}"), "No balloon device found.");
        assertRefused(call("GET", "/balloon/statistics", null), "No balloon device found.");
    }

    @Test
    void theConfigurationFileHasABalloonSection() throws IOException {
        Path file = dir.resolve("vm.json");
        Files.writeString(file, """
                {"boot-source": {"kernel_image_path": "%s"},
                 "machine-config": {"vcpu_count": 1, "mem_size_mib": 128},
                 "balloon": {"amount_mib": 32, "deflate_on_oom": true, "stats_polling_interval_s": 3}}
                """.formatted(StandInGuest.kernelFile(dir)));
        FullVmConfiguration doc = ConfigFile.read(file);
        assertThat(ConfigFile.actions(doc)).contains(new ConfigureBalloon(new BalloonDevice(32L, true, 3L, null, null)));
        ConfigFile.apply(doc, vmm);
        vmm.handle(new InstanceStart());
        assertThat(launched.get().config().devices().balloon()).isEqualTo(new BalloonConfig(32, true, 3));

        Files.writeString(file, """
                {"boot-source": {"kernel_image_path": "%s"}, "balloon": {"amount_mib": 32}}
                """.formatted(StandInGuest.kernelFile(dir)));
        assertThatThrownBy(() -> ConfigFile.validate(ConfigFile.read(file), new HostLimits(4, 8L << 30)))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.field()).isEqualTo("deflate_on_oom"));
    }

    @Test
    void aSnapshotLoadAfterPutBalloonIsRefusedAsFirecrackerRefusesIt() {
        EventLog quiet = new EventLog("test", new ByteArrayOutputStream(), null);
        VmmController fresh = new VmmController("fc", new HostLimits(4, 8L << 30), spec -> new IdleGuest(), quiet, OnReboot.EXIT);
        fresh.handle(ActionParser.parse("PUT", "/balloon", "{\"amount_mib\": 0, \"deflate_on_oom\": false}".getBytes()));
        assertThatThrownBy(() -> fresh.handle(new LoadSnapshot(new SnapshotLoadParams("/s", new MemoryBackend("File", "/m"),
                null, null, false))))
                .isInstanceOfSatisfying(ApiException.class, e -> assertThat(e.kind()).isEqualTo(ApiException.Kind.NOT_ALLOWED))
                .hasMessageContaining("balloon");
    }
}
