package io.jkvm.api;

import com.fasterxml.jackson.databind.JsonNode;
import io.jkvm.device.virtio.IoStats;
import io.jkvm.resources.Throttle;
import io.jkvm.vmm.DeviceCounters;
import io.jkvm.vmm.VmMetrics;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The FlushMetrics line in Firecracker's layout: group names, per-device groups, counters as deltas. */
class FirecrackerMetricsTest {
    private static final Map<String, String> DRIVES = FirecrackerMetrics.driveIds(List.of(
            new Drive("rootfs", "/img/root.ext4", true, false, null, null, null, null, null)));
    private static final Map<String, String> NICS = FirecrackerMetrics.ifaceIds(List.of(
            new NetworkInterface("eth0", "tap7", null, null, null)));

    private static VmMetrics metrics(long blockReads, long ioExits, long ioOut, long serialWrites) {
        return new VmMetrics(2, 1000, Map.of("IO", ioExits, "MMIO", 10L),
                Map.of("serial", new DeviceCounters.Snapshot(1, serialWrites, 1, serialWrites)), 1,
                Map.of("drive/rootfs", new Throttle.Stats(3, 1_000_000), "net/06:00:00:00:00:01/rx", new Throttle.Stats(2, 1)),
                Map.of("drive/rootfs", new IoStats.Snapshot(blockReads, blockReads * 4096, 5, 5 * 512, 1, 0),
                        "tap/tap7", new IoStats.Snapshot(7, 700, 8, 800, 0, 1)),
                ioOut, 4);
    }

    private static JsonNode line(FirecrackerMetrics fm, MetricsConfig c, VmMetrics m) throws Exception {
        return Json.MAPPER.readTree(Json.write(fm.line("vm-1", c, m, null, DRIVES, NICS)));
    }

    @Test
    void groupsAreFirecrackersAndCountersAreWhatHappenedSinceThePreviousLine() throws Exception {
        FirecrackerMetrics fm = new FirecrackerMetrics();
        fm.startup(1500L, 900L);
        fm.latency("pause_vm", 42_000);
        fm.requests().record("PUT", "/actions", 204);
        fm.requests().record("PUT", "/drives/rootfs", 400);
        fm.requests().record("GET", "/", 200);
        fm.requests().record("PATCH", "/network-interfaces/eth0", 204);
        fm.requests().record("GET", "/jkvm/metrics", 200); // not a Firecracker resource: not counted

        JsonNode first = line(fm, new MetricsConfig("/m"), metrics(10, 100, 30, 50));
        assertThat(first.path("utc_timestamp_ms").asLong()).isPositive();
        assertThat(first.has("id")).as("no emit_id").isFalse();
        assertThat(first.path("api_server").path("process_startup_time_us").asLong()).isEqualTo(1500);
        assertThat(first.path("api_server").path("process_startup_time_cpu_us").asLong()).isEqualTo(900);
        assertThat(first.path("block_rootfs").path("read_count").asLong()).isEqualTo(10);
        assertThat(first.path("block_rootfs").path("read_bytes").asLong()).isEqualTo(40960);
        assertThat(first.path("block_rootfs").path("write_bytes").asLong()).isEqualTo(2560);
        assertThat(first.path("block_rootfs").path("flush_count").asLong()).isEqualTo(1);
        assertThat(first.path("block_rootfs").path("rate_limiter_throttled_events").asLong()).isEqualTo(3);
        assertThat(first.path("block").path("read_count").asLong()).as("all drives").isEqualTo(10);
        assertThat(first.path("net_eth0").path("rx_packets_count").asLong()).isEqualTo(7);
        assertThat(first.path("net_eth0").path("tx_bytes_count").asLong()).isEqualTo(800);
        assertThat(first.path("net_eth0").path("tx_malformed_frames").asLong()).isEqualTo(1);
        assertThat(first.path("net").path("rx_rate_limiter_throttled").asLong()).isEqualTo(2);
        assertThat(first.path("vcpu").path("exit_io_in").asLong()).isEqualTo(70);
        assertThat(first.path("vcpu").path("exit_io_out").asLong()).isEqualTo(30);
        assertThat(first.path("vcpu").path("exit_mmio_read").asLong()).isEqualTo(6);
        assertThat(first.path("vcpu").path("exit_mmio_write").asLong()).isEqualTo(4);
        assertThat(first.path("uart").path("write_count").asLong()).isEqualTo(50);
        assertThat(first.path("put_api_requests").path("actions_count").asLong()).isEqualTo(1);
        assertThat(first.path("put_api_requests").path("drive_count").asLong()).isEqualTo(1);
        assertThat(first.path("put_api_requests").path("drive_fails").asLong()).isEqualTo(1);
        assertThat(first.path("get_api_requests").path("instance_info_count").asLong()).isEqualTo(1);
        assertThat(first.path("patch_api_requests").path("network_count").asLong()).isEqualTo(1);
        assertThat(first.path("latencies_us").path("pause_vm").asLong()).isEqualTo(42);

        fm.requests().record("PUT", "/actions", 204);
        JsonNode second = line(fm, new MetricsConfig("/m"), metrics(15, 130, 40, 50));
        assertThat(second.path("block_rootfs").path("read_count").asLong()).as("5 more reads").isEqualTo(5);
        assertThat(second.path("block_rootfs").path("write_count").asLong()).as("no more writes").isZero();
        assertThat(second.path("vcpu").path("exit_io_out").asLong()).isEqualTo(10);
        assertThat(second.path("vcpu").path("exit_io_in").asLong()).isEqualTo(20);
        assertThat(second.path("uart").path("write_count").asLong()).isZero();
        assertThat(second.path("put_api_requests").path("actions_count").asLong()).isEqualTo(1);
        assertThat(second.path("put_api_requests").path("drive_fails").asLong()).isZero();
        assertThat(second.path("latencies_us").path("pause_vm").asLong()).as("a stored value, not a delta").isEqualTo(42);
    }

    @Test
    void emitIdAndPropertiesAreHonouredAndBeforeBootThereAreNoDeviceGroups() throws Exception {
        FirecrackerMetrics fm = new FirecrackerMetrics();
        JsonNode l = line(fm, new MetricsConfig("/m", true, Map.of("pod", "web-1")), null);
        assertThat(l.path("id").asText()).isEqualTo("vm-1");
        assertThat(l.path("properties").path("pod").asText()).isEqualTo("web-1");
        assertThat(l.has("vcpu")).isFalse();
        assertThat(l.has("block")).isFalse();
        assertThat(l.has("put_api_requests")).isTrue();
    }

    @Test
    void resourcesAreNamedAsFirecrackerNamesThem() {
        assertThat(ApiRequestCounters.resource("PUT", "/boot-source")).isEqualTo("boot_source");
        assertThat(ApiRequestCounters.resource("PUT", "/machine-config")).isEqualTo("machine_cfg");
        assertThat(ApiRequestCounters.resource("PATCH", "/machine-config")).isEqualTo("machine_cfg");
        assertThat(ApiRequestCounters.resource("PUT", "/network-interfaces/eth0")).isEqualTo("network");
        assertThat(ApiRequestCounters.resource("PUT", "/hotplug/memory")).isEqualTo("hotplug_memory");
        assertThat(ApiRequestCounters.resource("GET", "/version")).isEqualTo("vmm_version");
        assertThat(ApiRequestCounters.resource("GET", "/machine-config?x")).isEqualTo("machine_cfg");
        assertThat(ApiRequestCounters.resource("PATCH", "/actions")).isNull();
        assertThat(ApiRequestCounters.resource("GET", "/vm/config")).isNull();
    }

    @Test
    void propertiesAreBounded() {
        assertThatThrownBy(() -> new MetricsConfig("/m", null, Map.of("", "x")).checkProperties())
                .isInstanceOf(ApiException.class).hasMessageContaining("properties");
        assertThatThrownBy(() -> new MetricsConfig("/m", null, Map.of("k", "x".repeat(300))).checkProperties())
                .isInstanceOf(ApiException.class).hasMessageContaining("properties.k");
    }
}
