package io.jkvm.api;

import io.jkvm.vmm.VmMetrics;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The VMM's metrics in jkvm's own cumulative layout, as {@code GET /jkvm/metrics} returns them
 * ({@code FlushMetrics} writes Firecracker's layout: {@link FirecrackerMetrics}) (exits by reason, per-device requests and bytes, vCPUs,
 * uptime, and for each rate-limited device queue how often and how long it waited for tokens).
 */
final class MetricsLine {
    private MetricsLine() {}

    /** {@code m} is the running guest's metrics, or null before boot (then the configured vCPU count is shown). */
    static Map<String, Object> of(String id, String state, VmMetrics m, int configuredVcpus) {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("utc_timestamp_ms", System.currentTimeMillis());
        line.put("id", id);
        line.put("state", state);
        line.put("vcpu_count", m != null ? m.vcpus() : configuredVcpus);
        line.put("uptime_ms", m != null ? m.uptimeMillis() : 0);
        line.put("boots", m != null ? m.boots() : 0);
        line.put("exits", m != null ? m.exits() : Map.of());
        Map<String, Object> devices = new LinkedHashMap<>();
        if (m != null) {
            m.devices().forEach((name, s) -> devices.put(name, Map.of("reads", s.reads(), "writes", s.writes(),
                    "read_bytes", s.readBytes(), "write_bytes", s.writeBytes())));
        }
        line.put("devices", devices);
        Map<String, Object> limiters = new java.util.TreeMap<>();
        if (m != null) {
            m.rateLimiters().forEach((device, s) -> limiters.put(device, Map.of("throttled", s.throttled(),
                    "throttled_ms", s.throttledNanos() / 1_000_000)));
        }
        line.put("rate_limiters", limiters);
        return line;
    }
}
