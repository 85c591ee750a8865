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

    /** A lab machine that dies or goes silent is replaced this many times for the metrics it had not finished. */
    static final int REPLACEMENTS = 1;
    /**
     * The restore figure's 2 GiB guest is in the lab machine's RAM several times over: jkvm's
     * snapshot and QEMU's stream side by side on L1's tmpfs (4 GiB, which tmpfs allows only in a
     * machine of 8 GiB or more: half its RAM), and the guest running while it is saved or
     * restored. In the default 4 GiB the bench's JVM was killed there (exit 137).
     */
    static final int MEMORY_MIB = 12288;
    /** Lines of a failed lab machine's console shown with its failure. */
    private static final int CONSOLE_LINES = 15;

    /** The rows measured in the lab, and a line for each metric that failed there. */
    public record Outcome(List<MetricResult> rows, List<String> failures) {}

    /** What one {@code jkvm bench --json} file holds: rows so far, metrics ended, why some failed. */
    record Progress(List<MetricResult> rows, List<String> finished, List<String> failed) {}

    /**
     * Runs {@code metrics} in a lab machine and returns their rows, renamed and labelled. The inner
     * bench rewrites its JSON as each metric ends, so when the lab machine itself fails (silent for
     * {@link #NO_PROGRESS}, or dead: the emulated lab machine sometimes wedges under load, see the
     * README) the figures it finished are kept, its last console lines are shown, and the metrics it
     * had not finished are measured again in a new lab machine, once, saying so.
     */
    public static Outcome run(List<Metric> metrics, BenchContext ctx) throws IOException {
        List<MetricResult> rows = new ArrayList<>();
        List<String> failures = new ArrayList<>();
        List<Metric> left = new ArrayList<>(metrics);
        for (int machine = 0; !left.isEmpty(); machine++) {
            String ids = String.join(", ", left.stream().map(Metric::id).toList());
            ctx.say("no usable KVM on this host: running %s inside the lab (one lab machine, jkvm and its peers side by side)", ids);
            Path json = Files.createTempFile(Path.of("/tmp"), "jkvm-lab-bench-", ".json");
            LabResult r;
            Progress p;
            try {
                // One CPU, as the direct-KVM tier's lab machines: with two, the bench's JVM died of a
                // segmentation fault or went silent (a C1 method entry HotSpot was patching on the
                // other CPU, a cross-modifying-code race under QEMU's multi-threaded TCG; see the
                // README's test section). Every VMM measured shares that CPU alike.
                LabOptions options = LabOptions.defaults().withMachine(MEMORY_MIB, 1).withTimeout(Duration.ofHours(3))
                        .withIdleTimeout(NO_PROGRESS);
                r = Lab.run(command(left, ctx, json), options, InputStream.nullInputStream(), ctx.log(), ctx.log());
                p = Files.size(json) == 0 ? new Progress(List.of(), List.of(), List.of()) : progress(Files.readString(json));
            } finally {
                Files.deleteIfExists(json);
            }
            rows.addAll(p.rows());
            p.failed().forEach(f -> failures.add(f + " [in the lab]"));
            left.removeIf(m -> p.finished().contains(m.id()));
            if (left.isEmpty()) {
                break;
            }
            String why = r.labFailed() ? "the lab machine failed: " + r.error() : ended(r.exitCode());
            String unfinished = String.join(", ", left.stream().map(Metric::id).toList());
            if (r.labFailed()) {
                ctx.say("%s, with %s unfinished; its console's last lines:%n%s", why, unfinished, lastLines(r.console()));
            }
            if (!r.labFailed() || machine >= REPLACEMENTS) {
                left.forEach(m -> failures.add(m.id() + " (" + why + ")"));
                break;
            }
            ctx.say("measuring %s again in a new lab machine", unfinished);
        }
        return new Outcome(rows, failures);
    }

    /** Why an inner bench that left metrics unfinished ended, from its exit status. */
    private static String ended(int exit) {
        String signal = exit <= 128 ? "" : ": killed by signal " + (exit - 128)
                + (exit == 137 ? ", the lab machine's OOM killer?" : "");
        return "the lab run ended (exit " + exit + signal + ")";
    }

    private static List<String> command(List<Metric> metrics, BenchContext ctx, Path json) {
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
        return cmd;
    }

    private static String lastLines(String console) {
        List<String> lines = console == null ? List.of() : console.lines().toList();
        return String.join("\n", lines.subList(Math.max(0, lines.size() - CONSOLE_LINES), lines.size()));
    }

    /** A {@code jkvm bench --json} file: its rows renamed and labelled, the metrics it finished, its failures. */
    static Progress progress(String json) throws IOException {
        JsonNode root = new ObjectMapper().readTree(json);
        List<String> finished = new ArrayList<>();
        root.path("finished").forEach(n -> finished.add(n.asText()));
        List<String> failed = new ArrayList<>();
        root.path("failed").forEach(n -> failed.add(n.asText()));
        return new Progress(labelled(json), finished, failed);
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
