package io.jkvm.api;

import com.fasterxml.jackson.databind.JsonNode;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.BeforeProperty;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Whatever a client sends, the API answers 2xx or a 4xx with a fault message: never a 5xx, never
 * an exception. Runs the real router and controller with a launcher that boots nothing.
 */
class ApiRequestProperties {
    private static final List<String> PATHS = List.of("/", "/boot-source", "/machine-config", "/drives/rootfs",
            "/drives/a/b", "/network-interfaces/eth0", "/actions", "/vm", "/vm/config", "/logger", "/metrics",
            "/version", "/jkvm/metrics", "/nope", "", "/drives/", "/drives/%00");
    private static final List<String> METHODS = List.of("GET", "PUT", "PATCH", "POST", "DELETE", "HEAD", "FOO");
    private static final List<String> FIELDS = List.of("kernel_image_path", "initrd_path", "boot_args", "vcpu_count",
            "mem_size_mib", "smt", "track_dirty_pages", "cpu_template", "huge_pages", "drive_id", "path_on_host",
            "is_root_device", "is_read_only", "cache_type", "io_engine", "rate_limiter", "iface_id", "host_dev_name",
            "guest_mac", "action_type", "state", "log_path", "level", "metrics_path", "bogus", "");

    private Path kernel;
    private final AtomicInteger launches = new AtomicInteger();

    @BeforeProperty
    void kernelFile() throws IOException {
        Path dir = Files.createTempDirectory("jkvm-api-prop");
        dir.toFile().deleteOnExit();
        kernel = StandInGuest.kernelFile(dir);
        kernel.toFile().deleteOnExit();
    }

    private ApiRouter router() {
        return StandInGuest.router("prop", launches::incrementAndGet);
    }

    private static void assertAnswered(ApiResponse r) throws IOException {
        assertThat(r.status()).isBetween(200, 499);
        if (r.status() >= 400) {
            JsonNode body = Json.MAPPER.readTree(r.json());
            assertThat(body.path("fault_message").asText()).isNotBlank();
        }
    }

    @Property(tries = 400)
    void randomJsonOnAnyEndpointIsAnsweredWithA2xxOrA4xxFault(@ForAll("methods") String method,
            @ForAll("paths") String path, @ForAll("json") String body) throws IOException {
        ApiRouter api = router();
        assertAnswered(api.handle(method, path, body.getBytes(StandardCharsets.UTF_8)));
        // The same request in the started state must also be answered.
        api.handle("PUT", "/boot-source", ("{\"kernel_image_path\": \"" + kernel + "\"}").getBytes());
        api.handle("PUT", "/machine-config", "{\"vcpu_count\": 1, \"mem_size_mib\": 32}".getBytes());
        assertThat(api.handle("PUT", "/actions", "{\"action_type\": \"InstanceStart\"}".getBytes()).status()).isEqualTo(204);
        assertAnswered(api.handle(method, path, body.getBytes(StandardCharsets.UTF_8)));
    }

    @Property(tries = 300)
    void arbitraryBytesAreAnsweredWithA4xxFault(@ForAll("paths") String path, @ForAll byte[] body) throws IOException {
        assertAnswered(router().handle("PUT", path, body));
    }

    @Property(tries = 300)
    void machineConfigIsAcceptedExactlyWhenInRangeAndOtherwiseTheFaultNamesTheField(
            @ForAll("counts") long vcpus, @ForAll("counts") long mib) throws IOException {
        ApiResponse r = router().handle("PUT", "/machine-config",
                ("{\"vcpu_count\": " + vcpus + ", \"mem_size_mib\": " + mib + "}").getBytes());
        boolean valid = vcpus >= 1 && vcpus <= 4 && mib >= 32 && mib <= 8192;
        if (valid) {
            assertThat(r.status()).isEqualTo(204);
        } else {
            assertThat(r.status()).isEqualTo(400);
            String fault = Json.MAPPER.readTree(r.json()).path("fault_message").asText();
            assertThat(fault).containsAnyOf("vcpu_count", "mem_size_mib", "out of range");
        }
    }

    @Provide
    Arbitrary<Long> counts() {
        return Arbitraries.oneOf(Arbitraries.longs().between(-5, 40), Arbitraries.longs().between(0, 10_000),
                Arbitraries.longs());
    }

    @Provide
    Arbitrary<String> methods() {
        return Arbitraries.of(METHODS);
    }

    @Provide
    Arbitrary<String> paths() {
        return Arbitraries.oneOf(Arbitraries.of(PATHS), Arbitraries.strings().ofMaxLength(30).map(s -> "/" + s));
    }

    @Provide
    Arbitrary<String> json() {
        return Arbitraries.oneOf(jsonValue(3), objectOf(jsonValue(2)), Arbitraries.strings().ofMaxLength(40));
    }

    private Arbitrary<String> objectOf(Arbitrary<String> values) {
        Arbitrary<String> entry = Combinators.combine(Arbitraries.of(FIELDS), values)
                .as((k, v) -> Json.write(k) + ": " + v);
        return entry.list().ofMaxSize(5).map(l -> "{" + String.join(", ", l) + "}");
    }

    private Arbitrary<String> jsonValue(int depth) {
        Arbitrary<String> scalar = Arbitraries.oneOf(
                Arbitraries.integers().map(String::valueOf),
                Arbitraries.longs().map(String::valueOf),
                Arbitraries.doubles().map(d -> Double.isFinite(d) ? String.valueOf(d) : "1e999"),
                Arbitraries.of("true", "false", "null", "\"\"", "\"Paused\"", "\"Resumed\"", "\"InstanceStart\"",
                        "\"SendCtrlAltDel\"", "\"FlushMetrics\"", "\"/tmp\"", "\"/nonexistent/x\"", "\"None\"",
                        "99999999999999999999999", "-0", "\"Info\""),
                Arbitraries.strings().ofMaxLength(20).map(Json::write),
                Arbitraries.just(Json.write(kernel == null ? "/x" : kernel.toString())));
        if (depth == 0) {
            return scalar;
        }
        Arbitrary<String> lower = jsonValue(depth - 1);
        return Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(6, scalar),
                net.jqwik.api.Tuple.of(2, objectOf(lower)),
                net.jqwik.api.Tuple.of(1, lower.list().ofMaxSize(3).map(l -> "[" + String.join(", ", l) + "]")));
    }
}
