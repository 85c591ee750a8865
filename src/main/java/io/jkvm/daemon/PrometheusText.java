package io.jkvm.daemon;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Renders the daemon's metrics in the Prometheus text exposition format (version 0.0.4):
 * VM counts by state, and per running VM its vCPUs, uptime, KVM exits by reason and port I/O
 * requests and bytes per device, as its VMM reports them.
 */
final class PrometheusText {
    private final StringBuilder out = new StringBuilder();

    static String render(List<VmStatus> vms, Map<String, JsonNode> metrics, long apiRequests, double uptimeSeconds) {
        PrometheusText p = new PrometheusText();
        p.help("jkvm_daemon_uptime_seconds", "gauge", "Seconds since the daemon started.");
        p.sample("jkvm_daemon_uptime_seconds", "", uptimeSeconds);
        p.help("jkvm_daemon_api_requests_total", "counter", "Requests served by the daemon API.");
        p.sample("jkvm_daemon_api_requests_total", "", apiRequests);
        Map<String, Integer> byState = new TreeMap<>(Map.of("stopped", 0, "starting", 0, "running", 0, "paused", 0, "stopping", 0,
                "migrating", 0, "migrated", 0));
        vms.forEach(v -> byState.merge(v.state(), 1, Integer::sum));
        p.help("jkvm_vms", "gauge", "Defined VMs by state.");
        byState.forEach((state, n) -> p.sample("jkvm_vms", "state=\"" + state + "\"", n));

        p.help("jkvm_vm_up", "gauge", "1 if the VM's VMM process is running (or paused).");
        for (VmStatus v : vms) {
            p.sample("jkvm_vm_up", vm(v.name()), v.pid() != null ? 1 : 0);
        }
        p.help("jkvm_vm_vcpus", "gauge", "vCPUs of the VM.");
        metrics.forEach((name, m) -> p.sample("jkvm_vm_vcpus", vm(name), m.path("vcpu_count").asDouble()));
        p.help("jkvm_vm_uptime_seconds", "gauge", "Seconds since the VM booted.");
        metrics.forEach((name, m) -> p.sample("jkvm_vm_uptime_seconds", vm(name), m.path("uptime_ms").asDouble() / 1000));
        p.help("jkvm_vm_exits_total", "counter", "KVM exits to the VMM by exit reason.");
        metrics.forEach((name, m) -> m.path("exits").properties().forEach(e ->
                p.sample("jkvm_vm_exits_total", vm(name) + ",reason=\"" + esc(e.getKey()) + "\"", e.getValue().asDouble())));
        p.help("jkvm_vm_device_requests_total", "counter", "Port I/O accesses per device and direction.");
        metrics.forEach((name, m) -> m.path("devices").properties().forEach(d -> {
            p.sample("jkvm_vm_device_requests_total", vm(name) + dev(d.getKey(), "read"), d.getValue().path("reads").asDouble());
            p.sample("jkvm_vm_device_requests_total", vm(name) + dev(d.getKey(), "write"), d.getValue().path("writes").asDouble());
        }));
        p.help("jkvm_vm_device_bytes_total", "counter", "Bytes moved by port I/O per device and direction.");
        metrics.forEach((name, m) -> m.path("devices").properties().forEach(d -> {
            p.sample("jkvm_vm_device_bytes_total", vm(name) + dev(d.getKey(), "read"), d.getValue().path("read_bytes").asDouble());
            p.sample("jkvm_vm_device_bytes_total", vm(name) + dev(d.getKey(), "write"), d.getValue().path("write_bytes").asDouble());
        }));
        return p.out.toString();
    }

    private static String vm(String name) {
        return "vm=\"" + esc(name) + "\"";
    }

    private static String dev(String device, String op) {
        return ",device=\"" + esc(device) + "\",op=\"" + op + "\"";
    }

    private static String esc(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }

    private void help(String name, String type, String text) {
        out.append("# HELP ").append(name).append(' ').append(text).append('\n');
        out.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    private void sample(String name, String labels, double value) {
        out.append(name);
        if (!labels.isEmpty()) {
            out.append('{').append(labels).append('}');
        }
        out.append(' ');
        if (value == Math.rint(value) && Math.abs(value) < 1e15) {
            out.append((long) value);
        } else {
            out.append(value);
        }
        out.append('\n');
    }
}
