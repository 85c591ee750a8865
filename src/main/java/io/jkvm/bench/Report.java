package io.jkvm.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/** The bench's outputs: a Markdown table (stdout, README) and JSON (--json). */
public final class Report {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private Report() {}

    /** A Markdown table: one row per figure and peer, medians with their range, and the ratio. */
    public static String table(List<MetricResult> results) {
        StringBuilder sb = new StringBuilder();
        sb.append("| figure | unit | jkvm median [min-max] | peer | peer median [min-max] | jkvm/peer | n |\n");
        sb.append("| --- | --- | ---: | --- | ---: | ---: | ---: |\n");
        for (MetricResult r : results) {
            sb.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %s | %s | %d |%n", r.title(), r.unit(),
                    cell(r.jkvm()), r.peerName(), cell(r.peer()), ratio(r.ratio()), r.jkvm().count()));
        }
        return sb.toString();
    }

    static String cell(Stats s) {
        return num(s.median()) + " [" + num(s.min()) + "-" + num(s.max()) + "]";
    }

    static String ratio(double r) {
        return Double.isNaN(r) ? "-" : String.format(Locale.ROOT, "%.2fx", r);
    }

    /** Three significant digits, without exponent notation. */
    static String num(double v) {
        if (Double.isNaN(v)) {
            return "-";
        }
        double a = Math.abs(v);
        String f = a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : "%.2f";
        return String.format(Locale.ROOT, f, v);
    }

    /**
     * One object per figure: name, unit, jkvm, peer, peer_name, ratio, samples (and spreads, note);
     * {@code finished}: the ids of the metrics that have ended (measured or failed), so a reader of a
     * file written while the bench ran knows which are still to come; {@code failed}: why those that
     * failed did.
     */
    public static String json(List<MetricResult> results, List<String> finished, List<String> failed, String command,
            boolean quick) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.put("command", command);
        root.put("quick", quick);
        finished.forEach(root.putArray("finished")::add);
        failed.forEach(root.putArray("failed")::add);
        ArrayNode metrics = root.putArray("metrics");
        for (MetricResult r : results) {
            ObjectNode o = metrics.addObject();
            o.put("name", r.name());
            o.put("title", r.title());
            o.put("unit", r.unit());
            o.put("jkvm", r.jkvm().median());
            o.put("peer", r.peer().median());
            o.put("peer_name", r.peerName());
            o.put("ratio", r.ratio());
            ObjectNode samples = o.putObject("samples");
            r.jkvm().samples().forEach(samples.putArray("jkvm")::add);
            r.peer().samples().forEach(samples.putArray(r.peerName())::add);
            ObjectNode spread = o.putObject("range");
            spread.putArray("jkvm").add(r.jkvm().min()).add(r.jkvm().max());
            spread.putArray("peer").add(r.peer().min()).add(r.peer().max());
            o.put("note", r.note());
        }
        return JSON.writeValueAsString(root) + "\n";
    }

    /**
     * Writes the JSON whole or not at all (a temporary file beside it, then renamed): the bench
     * rewrites it as each metric ends, and a run killed mid-write must leave the last whole file.
     */
    public static void writeJson(Path file, List<MetricResult> results, List<String> finished, List<String> failed,
            String command, boolean quick) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Path tmp = Files.createTempFile(dir, ".jkvm-bench-", ".json");
        try {
            Files.writeString(tmp, json(results, finished, failed, command, quick));
            Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                    java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
