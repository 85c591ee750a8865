package io.jkvm.api;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import com.fasterxml.jackson.databind.JsonNode;
import io.jkvm.testing.JazzerOnJava25;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Coverage-guided fuzzing (Jazzer) of the per-VM API behind the HTTP layer: a program of up to
 * eight requests (a known or fuzzed method and path, a fuzzed body or a known body with a fuzzed
 * value) against one {@link VmmController} whose guest is a stand-in (no KVM), so the fuzzer
 * also reaches the post-boot rules after an InstanceStart it makes itself.
 *
 * Endpoints that write files at a path from the body are left out (see {@link #WRITES_FILES}).
 *
 * <p>Oracle: every request is answered 2xx or 4xx, and every 4xx is {@code {"fault_message"}}
 * JSON with a message; a 5xx or an exception escaping the router is a finding. Run longer with
 * {@code bin/fuzz api}.
 */
@ExtendWith(JazzerOnJava25.class)
class ApiRouterFuzzTest {
    private static final String[] METHODS = {"GET", "PUT", "PATCH", "POST", "DELETE"};
    private static final String[] PATHS = {"/", "/boot-source", "/machine-config", "/drives/rootfs", "/drives/d2",
            "/network-interfaces/eth0", "/actions", "/vm", "/vm/config", "/version", "/entropy", "/balloon", "/mmds",
            "/mmds/config", "/jkvm/vcpus"};
    /**
     * Endpoints that create files where the body says (metrics, logger, snapshots, migration):
     * not fuzzed, since this runs as root and a fuzzed path could truncate any file. Their
     * parsing is covered by ApiRequestProperties and ActionParserTest.
     */
    private static final String[] WRITES_FILES = {"metrics", "logger", "snapshot", "migrat"};
    /** Bodies that pass parsing, so the fuzzer's values reach validation; {@code @} is replaced by a fuzzed value. */
    private static final String[] TEMPLATES = {
        "{\"kernel_image_path\": \"%K\", \"boot_args\": @}",
        "{\"vcpu_count\": @, \"mem_size_mib\": 32}",
        "{\"vcpu_count\": 1, \"mem_size_mib\": @, \"smt\": false}",
        "{\"drive_id\": \"rootfs\", \"path_on_host\": @, \"is_root_device\": true, \"is_read_only\": false}",
        "{\"drive_id\": \"rootfs\", \"path_on_host\": \"%K\", \"is_root_device\": @, \"rate_limiter\": @}",
        "{\"iface_id\": \"eth0\", \"host_dev_name\": @, \"guest_mac\": @}",
        "{\"action_type\": @}",
        "{\"action_type\": \"InstanceStart\"}",
        "{\"state\": @}",
        "{\"network_interfaces\": [\"eth0\"], \"version\": @, \"ipv4_address\": @, \"imds_compat\": @}",
        "{\"latest\": {\"meta-data\": @}}",
    };
    private static Path kernel;

    @FuzzTest(maxDuration = "10m")
    void requests(FuzzedDataProvider data) {
        ApiRouter api = router();
        int n = data.consumeInt(1, 8);
        for (int i = 0; i < n && data.remainingBytes() > 0; i++) {
            String method = data.consumeBoolean() ? data.pickValue(METHODS) : data.consumeString(8);
            String path = data.consumeBoolean() ? data.pickValue(PATHS) : data.consumeString(64);
            byte[] body;
            if (data.consumeBoolean()) {
                String t = data.pickValue(TEMPLATES).replace("%K", kernel.toString());
                StringBuilder b = new StringBuilder();
                for (String part : t.split("@", -1)) {
                    if (!b.isEmpty()) {
                        b.append(data.consumeString(48));
                    }
                    b.append(part);
                }
                body = b.toString().getBytes(StandardCharsets.UTF_8);
            } else {
                body = data.consumeBytes(512);
            }
            if (writesFiles(path)) {
                continue;
            }
            answered(method, path, api.handle(method, path, body));
        }
    }

    private static boolean writesFiles(String path) {
        String p = path.toLowerCase(java.util.Locale.ROOT);
        for (String w : WRITES_FILES) {
            if (p.contains(w)) {
                return true;
            }
        }
        return false;
    }

    private static void answered(String method, String path, ApiResponse r) {
        if (r.status() < 200 || r.status() > 499) {
            throw new AssertionError(method + " " + path + " answered " + r.status() + ": " + r.json());
        }
        if (r.status() >= 400) {
            try {
                JsonNode body = Json.MAPPER.readTree(r.json());
                if (body == null || body.path("fault_message").asText().isBlank()) {
                    throw new AssertionError(method + " " + path + " answered " + r.status() + " without a fault_message: " + r.json());
                }
            } catch (IOException e) {
                throw new AssertionError(method + " " + path + " answered " + r.status() + " with no JSON: " + r.json(), e);
            }
        }
    }

    /** A controller whose guest never runs (InstanceStart succeeds against a stand-in). */
    private static ApiRouter router() {
        if (kernel == null) {
            try {
                Path dir = Files.createTempDirectory("jkvm-api-fuzz");
                dir.toFile().deleteOnExit();
                kernel = StandInGuest.kernelFile(dir);
                kernel.toFile().deleteOnExit();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return StandInGuest.router("fuzz", () -> { });
    }
}
