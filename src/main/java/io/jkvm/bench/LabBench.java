package io.jkvm.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jkvm.image.JkvmHome;
import io.jkvm.lab.Lab;
import io.jkvm.lab.LabOptions;
import io.jkvm.lab.LabResult;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * The direct figures (exit round trips, memory, restore, migration) on a host without usable
 * KVM: one lab machine runs {@code jkvm bench} for them, jkvm and its peers side by side on the
 * lab machine's nested KVM, and the rows come back labelled as lab figures. Nested KVM on an
 * emulated CPU is far slower than this host's own KVM would be, so only their ratios compare
 * with a direct run's.
 */
public final class LabBench {
    static final String TITLE_SUFFIX = " (in the lab)";
    /** A stuck lab run prints nothing for this long (the bench reports each sample as it goes). */
    private static final Duration NO_PROGRESS = Duration.ofMinutes(15);

    private LabBench() {}

    /** Runs {@code metrics} in one lab machine; returns their rows, renamed and labelled. */
    public static List<MetricResult> run(List<Metric> metrics, BenchContext ctx) throws IOException {
        Path json = Files.createTempFile(Path.of("/tmp"), "jkvm-lab-bench-", ".json");
        try {
            List<String> cmd = new ArrayList<>(List.of("env", "JKVM_NO_BUILD=1",
                    // The lab's /tmp is the host's, over 9p: no Unix sockets there; L1's tmpfs instead.
                    "JKVM_JAVA_OPTS=-Djava.io.tmpdir=/dev/shm",
                    JkvmHome.get().resolve("bin/jkvm").toString(), "bench",
                    "--metrics", String.join(",", metrics.stream().map(Metric::id).toList()),
                    "--samples", String.valueOf(ctx.samples()), "--exits", String.valueOf(ctx.exits()),
                    "--json", json.toString()));
            if (ctx.quick()) {
                cmd.add("--quick");
            }
            ctx.say("no usable KVM on this host: running %s inside the lab (one lab machine, jkvm and its peers side by side)",
                    String.join(", ", metrics.stream().map(Metric::id).toList()));
            LabResult r = Lab.run(cmd, LabOptions.defaults().withTimeout(Duration.ofHours(3)).withIdleTimeout(NO_PROGRESS),
                    InputStream.nullInputStream(), ctx.log(), ctx.log());
            // The inner bench writes the figures it measured even when another one failed (exit 1).
            if (r.labFailed() || Files.size(json) == 0) {
                throw new IOException("the lab run of the direct figures failed (exit " + r.exitCode() + ")"
                        + (r.error() == null ? "" : ": " + r.error()));
            }
            if (r.exitCode() != 0) {
                ctx.say("some direct figures failed in the lab (exit %d); reporting the others", r.exitCode());
            }
            return labelled(Files.readString(json));
        } finally {
            Files.deleteIfExists(json);
        }
    }

    /** The rows of a {@code jkvm bench --json} file, renamed {@code lab_*} and titled as lab figures. */
    static List<MetricResult> labelled(String json) throws IOException {
        JsonNode root = new ObjectMapper().readTree(json);
        List<MetricResult> out = new ArrayList<>();
        for (JsonNode m : root.path("metrics")) {
            String peer = m.path("peer_name").asText();
            out.add(new MetricResult("lab_" + m.path("name").asText(), m.path("title").asText() + TITLE_SUFFIX,
                    m.path("unit").asText(), Stats.of(samples(m.path("samples").path("jkvm"))),
                    Stats.of(samples(m.path("samples").path(peer))), peer,
                    "in the lab (nested KVM on an emulated AMD-V machine, both VMMs in the same lab machine)"
                            + (m.path("note").asText().isEmpty() ? "" : "; " + m.path("note").asText())));
        }
        return out;
    }

    private static List<Double> samples(JsonNode array) throws IOException {
        List<Double> out = new ArrayList<>();
        array.forEach(v -> out.add(v.asDouble()));
        if (out.isEmpty()) {
            throw new IOException("a lab bench row has no samples");
        }
        return out;
    }
}
