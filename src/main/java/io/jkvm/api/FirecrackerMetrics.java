package io.jkvm.api;

import io.jkvm.resources.Throttle;
import io.jkvm.vmm.DeviceCounters;
import io.jkvm.vmm.VmMetrics;

import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The metrics line in Firecracker's layout, which is what clients that read a Firecracker
 * metrics file or pipe parse (Kata's Firecracker driver turns each group into a Prometheus gauge):
 * one JSON object per flush with {@code utc_timestamp_ms}, then groups such as
 * {@code api_server}, {@code block} (all drives) and {@code block_<drive_id>}, {@code net} and
 * {@code net_<iface_id>}, {@code vcpu}, {@code uart}, {@code i8042}, {@code rtc},
 * {@code put_api_requests}, {@code get_api_requests}, {@code patch_api_requests},
 * {@code latencies_us}, {@code logger}.
 *
 * <p>As in Firecracker, counters ({@code *_count}, {@code *_bytes}, {@code *_fails}, ...) are
 * what happened since the previous line, and stored values (start-up time, latencies) are the
 * latest value. Only what jkvm measures is written: a field missing from a group was not
 * measured (a JSON reader takes it as zero), never a made-up zero for something that happened.
 * {@code GET /jkvm/metrics} keeps jkvm's own cumulative layout.
 */
final class FirecrackerMetrics {
    /** Firecracker writes a line this often once the guest runs, and at each FlushMetrics. */
    static final long PERIOD_MS = 60_000;

    private final ApiRequestCounters requests = new ApiRequestCounters();
    private final Map<String, Long> latenciesUs = new ConcurrentHashMap<>();
    private volatile Long startupUs;
    private volatile Long startupCpuUs;
    /** Counter totals at the previous line, by "group.field"; guarded by this. */
    private final Map<String, Long> previous = new HashMap<>();

    ApiRequestCounters requests() {
        return requests;
    }

    /** {@code api_server.process_startup_time_us} and {@code _cpu_us} (the jailer's start marks; null: not given). */
    void startup(Long wallUs, Long cpuUs) {
        startupUs = wallUs;
        startupCpuUs = cpuUs;
    }

    /** A {@code latencies_us} value: how long the last {@code name} (pause_vm, load_snapshot, ...) took. */
    void latency(String name, long nanos) {
        latenciesUs.put(name, Math.max(0, nanos / 1000));
    }

    /**
     * The next line. {@code m} is null before the guest exists; {@code driveIds} maps jkvm's
     * virtio disk ids ("drive/SERIAL") to drive ids, {@code ifaceIds} TAP names to iface ids.
     */
    synchronized Map<String, Object> line(String id, MetricsConfig config, VmMetrics m, MetricsSink sink,
            Map<String, String> driveIds, Map<String, String> ifaceIds) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("utc_timestamp_ms", System.currentTimeMillis());
        if (config != null && config.emitsId()) {
            line.put("id", id);
        }
        if (config != null && config.properties() != null && !config.properties().isEmpty()) {
            line.put("properties", new TreeMap<>(config.properties()));
        }
        Map<String, Object> api = new LinkedHashMap<>();
        if (startupUs != null) {
            api.put("process_startup_time_us", startupUs);
        }
        if (startupCpuUs != null) {
            api.put("process_startup_time_cpu_us", startupCpuUs);
        }
        line.put("api_server", api);
        if (m != null) {
            blocks(line, m, driveIds);
            nets(line, m, ifaceIds);
            long io = m.exits().getOrDefault("IO", 0L);
            long mmio = m.exits().getOrDefault("MMIO", 0L);
            Map<String, Object> vcpu = new LinkedHashMap<>();
            vcpu.put("exit_io_in", delta("vcpu.exit_io_in", io - m.ioOutExits()));
            vcpu.put("exit_io_out", delta("vcpu.exit_io_out", m.ioOutExits()));
            vcpu.put("exit_mmio_read", delta("vcpu.exit_mmio_read", mmio - m.mmioWriteExits()));
            vcpu.put("exit_mmio_write", delta("vcpu.exit_mmio_write", m.mmioWriteExits()));
            line.put("vcpu", vcpu);
            legacy(line, "uart", m.devices().get("serial"));
            legacy(line, "i8042", m.devices().get("i8042"));
            legacy(line, "rtc", m.devices().get("rtc"));
        }
        Map<String, Map<String, Object>> groups = new TreeMap<>();
        for (String g : List.of("get_api_requests", "patch_api_requests", "put_api_requests")) {
            groups.put(g, new TreeMap<>());
        }
        requests.totals().forEach((key, total) -> {
            int dot = key.indexOf('.');
            groups.get(key.substring(0, dot)).put(key.substring(dot + 1), delta(key, total));
        });
        line.putAll(groups);
        line.put("latencies_us", new TreeMap<>(latenciesUs));
        Map<String, Object> logger = new LinkedHashMap<>();
        if (sink != null) {
            logger.put("missed_metrics_count", delta("logger.missed_metrics_count", sink.missed()));
            logger.put("metrics_fails", delta("logger.metrics_fails", sink.fails()));
        }
        line.put("logger", logger);
        return line;
    }

    private void blocks(Map<String, Object> line, VmMetrics m, Map<String, String> driveIds) {
        Map<String, Long> all = new LinkedHashMap<>();
        Map<String, Object> each = new TreeMap<>();
        m.io().forEach((key, s) -> {
            String drive = driveIds.get(key);
            if (drive == null) {
                return;
            }
            Map<String, Long> d = new LinkedHashMap<>();
            String p = "block_" + drive + ".";
            d.put("read_count", delta(p + "read_count", s.inCount()));
            d.put("read_bytes", delta(p + "read_bytes", s.inBytes()));
            d.put("write_count", delta(p + "write_count", s.outCount()));
            d.put("write_bytes", delta(p + "write_bytes", s.outBytes()));
            d.put("flush_count", delta(p + "flush_count", s.flushes()));
            d.put("invalid_reqs_count", delta(p + "invalid_reqs_count", s.invalid()));
            Throttle.Stats t = m.rateLimiters().get(key);
            d.put("rate_limiter_throttled_events", delta(p + "rate_limiter_throttled_events", t == null ? 0 : t.throttled()));
            d.forEach((k, v) -> all.merge(k, v, Long::sum));
            each.put("block_" + drive, d);
        });
        line.put("block", all);
        line.putAll(each);
    }

    private void nets(Map<String, Object> line, VmMetrics m, Map<String, String> ifaceIds) {
        Map<String, Long> all = new LinkedHashMap<>();
        Map<String, Object> each = new TreeMap<>();
        m.io().forEach((key, s) -> {
            if (!key.startsWith("tap/")) {
                return;
            }
            String iface = ifaceIds.getOrDefault(key.substring(4), key.substring(4));
            Map<String, Long> d = new LinkedHashMap<>();
            String p = "net_" + iface + ".";
            d.put("rx_packets_count", delta(p + "rx_packets_count", s.inCount()));
            d.put("rx_bytes_count", delta(p + "rx_bytes_count", s.inBytes()));
            d.put("tx_packets_count", delta(p + "tx_packets_count", s.outCount()));
            d.put("tx_bytes_count", delta(p + "tx_bytes_count", s.outBytes()));
            d.put("tx_malformed_frames", delta(p + "tx_malformed_frames", s.invalid()));
            d.forEach((k, v) -> all.merge(k, v, Long::sum));
            each.put("net_" + iface, d);
        });
        // Receive and transmit limiters are kept by virtio id ("net/MAC/rx"): counted for all interfaces together.
        long rx = 0;
        long tx = 0;
        for (Map.Entry<String, Throttle.Stats> e : m.rateLimiters().entrySet()) {
            if (e.getKey().startsWith("net/") && e.getKey().endsWith("/rx")) {
                rx += e.getValue().throttled();
            } else if (e.getKey().startsWith("net/") && e.getKey().endsWith("/tx")) {
                tx += e.getValue().throttled();
            }
        }
        all.put("rx_rate_limiter_throttled", delta("net.rx_rate_limiter_throttled", rx));
        all.put("tx_rate_limiter_throttled", delta("net.tx_rate_limiter_throttled", tx));
        line.put("net", all);
        line.putAll(each);
    }

    private void legacy(Map<String, Object> line, String group, DeviceCounters.Snapshot s) {
        if (s == null) {
            return;
        }
        Map<String, Long> d = new LinkedHashMap<>();
        d.put("read_count", delta(group + ".read_count", s.reads()));
        d.put("write_count", delta(group + ".write_count", s.writes()));
        line.put(group, d);
    }

    /**
     * What {@code key} gained since the previous line. A total below the previous one (a derived
     * count read between two counters that move independently) gains nothing and keeps the
     * previous mark, so it can never show as a spike.
     */
    private long delta(String key, long total) {
        long before = previous.getOrDefault(key, 0L);
        if (total < before) {
            return 0;
        }
        previous.put(key, total);
        return total - before;
    }

    /** The API's {@code io} keys of drives: "drive/SERIAL" (the drive id cut as virtio-blk's serial is) to drive id. */
    static Map<String, String> driveIds(List<Drive> drives) {
        Map<String, String> out = new HashMap<>();
        for (Drive d : drives) {
            out.put("drive/" + GuestDevices.serial(d.driveId()), d.driveId());
        }
        return out;
    }

    /** TAP name to iface id. */
    static Map<String, String> ifaceIds(List<NetworkInterface> nics) {
        Map<String, String> out = new HashMap<>();
        for (NetworkInterface n : nics) {
            out.put(n.hostDevName(), n.ifaceId());
        }
        return out;
    }
}
