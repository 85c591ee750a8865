package io.jkvm.api;

import io.jkvm.vmm.VmMetrics;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The VMM's metrics as one JSON object: what {@code FlushMetrics} appends to the metrics file
 * and {@code GET /jkvm/metrics} returns (exits by reason, per-device requests and bytes, vCPUs,
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

    /** Appends {@code line} to the metrics file ({@code null}: metrics were not configured). */
    static void flush(Path metricsPath, Map<String, Object> line) {
        if (metricsPath == null) {
            throw ApiException.notAllowed("metrics are not configured (PUT /metrics with a metrics_path first)");
        }
        try {
            Files.writeString(metricsPath, Json.write(line) + "\n", StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw ApiException.badField("metrics_path", "metrics_path " + metricsPath + ": cannot write: " + e.getMessage());
        }
    }
}
