package io.jkvm.api;

import com.fasterxml.jackson.databind.JsonNode;
import io.jkvm.config.HostLimits;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VmConfig;
import io.jkvm.resources.BucketConfig;
import io.jkvm.resources.RateLimitConfig;
import io.jkvm.resources.Throttle;
import io.jkvm.vmm.VmMetrics;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Firecracker's {@code rate_limiter} objects through the API into what the devices are built
 * from: a drive's and an interface's limiters reach the device configuration that InstanceStart
 * boots, a PATCH on a drive or an interface of a running VM reaches the running guest bucket by bucket
 * (a bucket left out stays, size 0 switches one off), and metrics report throttled queues.
 * The real router and controller, with a launcher that records instead of booting.
 */
class RateLimiterApiTest {
    private static final String DRIVE_LIMIT = "{\"bandwidth\": {\"size\": 1048576, \"one_time_burst\": 4096,"
            + " \"refill_time\": 100}, \"ops\": {\"size\": 100, \"refill_time\": 1000}}";

    @TempDir
    Path dir;
    private ApiRouter api;
    private final AtomicReference<VmConfig> booted = new AtomicReference<>();
    /** {host_dev_name, rx, tx} of each update the running guest received. */
    private final List<Object[]> updates = new ArrayList<>();
    /** Each drive limit the running guest received. */
    private final List<RateLimitConfig> driveUpdates = new ArrayList<>();

    @BeforeEach
    void router() throws IOException {
        EventLog quiet = new EventLog("limits", new ByteArrayOutputStream(), null);
        GuestLauncher recording = spec -> {
            booted.set(spec.config());
            return new IdleGuest() {
                @Override
                public VmMetrics metrics() {
                    return new VmMetrics(1, 1, Map.of(), Map.of(), 1,
                            Map.of("net/06:00:ac:10:00:02/tx", new Throttle.Stats(3, 2_500_000)), Map.of(), 0, 0);
                }

                @Override
                public void updateDriveRateLimit(String driveId, RateLimitConfig limit) {
                    driveUpdates.add(limit);
                }

                @Override
                public void updateNetworkRateLimits(String hostDevName, RateLimitConfig rx, RateLimitConfig tx) {
                    updates.add(new Object[] {hostDevName, rx, tx});
                }
            };
        };
        api = new ApiRouter(new VmmController("limits", new HostLimits(4, 8L << 30), recording, quiet, OnReboot.EXIT), quiet);
        Path kernel = StandInGuest.kernelFile(dir);
        Path disk = Files.write(dir.resolve("disk.img"), new byte[4096]);
        ok("PUT", "/boot-source", "{\"kernel_image_path\": \"" + kernel + "\"}");
        ok("PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 32}");
        ok("PUT", "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"path_on_host\": \"" + disk + "\", \"is_root_device\": true,"
                + " \"is_read_only\": false, \"rate_limiter\": " + DRIVE_LIMIT + "}");
        ok("PUT", "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", \"host_dev_name\": \"tap0\","
                + " \"guest_mac\": \"06:00:ac:10:00:02\", \"rx_rate_limiter\": {\"bandwidth\": {\"size\": 125000,"
                + " \"refill_time\": 1000}}, \"tx_rate_limiter\": {\"ops\": {\"size\": 1000, \"refill_time\": 1000}}}");
    }

    private ApiResponse call(String method, String path, String body) {
        return api.handle(method, path, body == null ? null : body.getBytes(StandardCharsets.UTF_8));
    }

    private ApiResponse ok(String method, String path, String body) {
        ApiResponse r = call(method, path, body);
        assertThat(r.status()).as(method + " " + path + ": " + r.json()).isLessThan(300);
        return r;
    }

    private static RateLimitConfig rx(long size) {
        return new RateLimitConfig(new BucketConfig(size, 0, 1000), BucketConfig.UNLIMITED);
    }

    private static final RateLimitConfig TX = new RateLimitConfig(BucketConfig.UNLIMITED, new BucketConfig(1000, 0, 1000));

    @Test
    void driveAndInterfaceLimitersReachTheDeviceConfiguration() {
        ok("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}");
        VmConfig c = booted.get();
        assertThat(c.devices().disks().getFirst().rateLimit()).isEqualTo(new RateLimitConfig(
                new BucketConfig(1_048_576, 4096, 100), new BucketConfig(100, 0, 1000)));
        assertThat(c.devices().nets().getFirst().rxRateLimit()).isEqualTo(rx(125_000));
        assertThat(c.devices().nets().getFirst().txRateLimit()).isEqualTo(TX);
    }

    @Test
    void aPatchAfterBootMergesBucketByBucketAndReachesTheDevicesAsFirecrackerDoes() throws IOException {
        // Before boot Firecracker refuses both PATCHes (PUT the device again instead).
        assertThat(call("PATCH", "/drives/rootfs", "{\"drive_id\": \"rootfs\"}").status()).isEqualTo(400);
        ok("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}");
        ok("PATCH", "/drives/rootfs", "{\"drive_id\": \"rootfs\", \"rate_limiter\": {\"ops\": {\"size\": 0, \"refill_time\": 0}}}");
        assertThat(driveUpdates).as("ops switched off, bandwidth kept").containsExactly(
                new RateLimitConfig(new BucketConfig(1_048_576, 4096, 100), new BucketConfig(0, 0, 0)));
        ok("PATCH", "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", \"tx_rate_limiter\": {\"bandwidth\":"
                + " {\"size\": 5000, \"refill_time\": 10}}}");
        assertThat(updates.getFirst()).as("bandwidth added, ops kept").containsExactly("tap0", rx(125_000),
                new RateLimitConfig(new BucketConfig(5000, 0, 10), new BucketConfig(1000, 0, 1000)));
        JsonNode nic = Json.MAPPER.readTree(ok("GET", "/vm/config", null).json()).path("network-interfaces").get(0);
        assertThat(nic.path("tx_rate_limiter").path("bandwidth").path("size").asLong()).isEqualTo(5000);
    }

    @Test
    void aPatchOnARunningVmReachesTheDevice() {
        ok("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}");
        ok("PATCH", "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", \"rx_rate_limiter\": {\"bandwidth\":"
                + " {\"size\": 250000, \"refill_time\": 1000}}}");
        assertThat(updates).hasSize(1);
        assertThat(updates.getFirst()).containsExactly("tap0", rx(250_000), TX);

        ok("PATCH", "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", \"tx_rate_limiter\": {\"ops\":"
                + " {\"size\": 0, \"refill_time\": 0}}}");
        assertThat(updates.get(1)).as("tx ops switched off, rx as the last PATCH left it")
                .containsExactly("tap0", rx(250_000), RateLimitConfig.UNLIMITED);
    }

    @Test
    void refusedLimitersChangeNothing() {
        ok("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}");
        ApiResponse r = call("PATCH", "/network-interfaces/eth0", "{\"iface_id\": \"eth0\", \"rx_rate_limiter\":"
                + " {\"bandwidth\": {\"size\": 1, \"refill_time\": 9223372036855}}}");
        assertThat(r.status()).isEqualTo(400);
        assertThat(r.json()).contains("rx_rate_limiter.bandwidth.refill_time");
        assertThat(updates).isEmpty();
    }

    @Test
    void metricsReportThrottledQueues() throws IOException {
        ok("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}");
        JsonNode m = Json.MAPPER.readTree(ok("GET", "/jkvm/metrics", null).json());
        JsonNode tx = m.path("rate_limiters").path("net/06:00:ac:10:00:02/tx");
        assertThat(tx.path("throttled").asLong()).isEqualTo(3);
        assertThat(tx.path("throttled_ms").asLong()).isEqualTo(2);
    }
}
