package io.jkvm.api;

import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;

/**
 * API requests by Firecracker's metrics names: {@code put_api_requests}, {@code patch_api_requests}
 * and {@code get_api_requests}, each with a {@code <resource>_count} per request and a
 * {@code <resource>_fails} per refused one (PUT and PATCH; Firecracker's GET group has counts
 * only). A path outside the resources Firecracker counts is not counted here.
 */
final class ApiRequestCounters {
    private final Map<String, LongAdder> counters = new ConcurrentHashMap<>();

    /** Counts one answered request. */
    void record(String method, String path, int status) {
        String group = switch (method) {
            case "PUT" -> "put_api_requests";
            case "PATCH" -> "patch_api_requests";
            case "GET" -> "get_api_requests";
            default -> null;
        };
        String resource = group == null ? null : resource(method, path);
        if (resource == null) {
            return;
        }
        add(group + "." + resource + "_count");
        if (status >= 400 && !method.equals("GET")) {
            add(group + "." + resource + "_fails");
        }
    }

    /** Firecracker's name for the resource at {@code path}, or null if it counts none there. */
    static String resource(String method, String path) {
        String p = path == null ? "" : path;
        int q = p.indexOf('?');
        if (q >= 0) {
            p = p.substring(0, q);
        }
        String first = p.startsWith("/") ? p.substring(1) : p;
        int slash = first.indexOf('/');
        String top = slash < 0 ? first : first.substring(0, slash);
        if (method.equals("GET")) {
            return switch (top) {
                case "" -> "instance_info";
                case "machine-config" -> "machine_cfg";
                case "mmds" -> "mmds";
                case "version" -> "vmm_version";
                default -> null;
            };
        }
        return switch (top) {
            case "actions" -> method.equals("PUT") ? "actions" : null;
            case "boot-source" -> method.equals("PUT") ? "boot_source" : null;
            case "drives" -> "drive";
            case "logger" -> method.equals("PUT") ? "logger" : null;
            case "machine-config" -> "machine_cfg";
            case "cpu-config" -> method.equals("PUT") ? "cpu_cfg" : null;
            case "metrics" -> method.equals("PUT") ? "metrics" : null;
            case "network-interfaces" -> "network";
            case "mmds" -> "mmds";
            case "vsock" -> method.equals("PUT") ? "vsock" : null;
            case "serial" -> method.equals("PUT") ? "serial" : null;
            case "pmem" -> "pmem";
            case "hotplug" -> "hotplug_memory";
            default -> null;
        };
    }

    private void add(String key) {
        counters.computeIfAbsent(key, k -> new LongAdder()).increment();
    }

    /** Totals so far, as "group.name" to count. */
    Map<String, Long> totals() {
        Map<String, Long> out = new TreeMap<>();
        counters.forEach((k, v) -> out.put(k, v.sum()));
        return out;
    }
}
