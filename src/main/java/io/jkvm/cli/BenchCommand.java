package io.jkvm.cli;

import io.jkvm.bench.BenchContext;
import io.jkvm.bench.BenchGuest;
import io.jkvm.bench.BootMetric;
import io.jkvm.bench.Chart;
import io.jkvm.bench.ExitRoundTripMetric;
import io.jkvm.bench.IoMetric;
import io.jkvm.bench.LabBench;
import io.jkvm.bench.MemoryOverheadMetric;
import io.jkvm.bench.Metric;
import io.jkvm.bench.MigrateMetric;
import io.jkvm.bench.MetricResult;
import io.jkvm.bench.Report;
import io.jkvm.bench.RestoreMetric;
import io.jkvm.kvm.KvmDevice;
import io.jkvm.lab.Lab;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;

/**
 * {@code jkvm bench}: jkvm side by side with QEMU (and the C floor) in one run. Every figure is
 * measured for jkvm and its peer in the same run, repeated, and reported as median, range and
 * ratio; absolute numbers on a shared machine only mean something next to their peer.
 */
@Command(name = "bench", sortOptions = false, subcommands = {BenchGuestCommand.class, BenchTrainCommand.class},
        description = {"Benchmark jkvm side by side with QEMU and a minimal C KVM loop, in one run.",
                "Figures: exit round trip (port I/O, MMIO; confined against unconfined), boot to first byte and to /init (in the lab),",
                "VMM memory overhead, snapshot restore, live migration, virtio-blk and virtio-net throughput (in the lab).",
                "Prints a table; --json and --chart write files."})
public final class BenchCommand implements Callable<Integer> {
    /** Metrics in report order; one class each. */
    static Map<String, Metric> allMetrics() {
        Map<String, Metric> m = new LinkedHashMap<>();
        for (Metric x : List.of(new ExitRoundTripMetric(BenchGuest.Kind.PIO),
                new ExitRoundTripMetric(BenchGuest.Kind.MMIO), new io.jkvm.bench.ConfinementCostMetric(), new MemoryOverheadMetric(), new RestoreMetric(), new MigrateMetric(), new BootMetric(), new IoMetric())) {
            m.put(x.id(), x);
        }
        return m;
    }

    @Option(names = "--quick", description = "3 samples and shorter loops (fits in about 10 minutes here).")
    boolean quick;

    @Option(names = "--samples", paramLabel = "N", description = "Samples per VMM and figure (default: 5, --quick 3).")
    Integer samples;

    @Option(names = "--exits", paramLabel = "N",
            description = "Exits per exit-round-trip run, a multiple of 64 (default: 128000, --quick 64000).")
    Integer exits;

    @Option(names = "--metrics", paramLabel = "LIST", split = ",",
            description = "Which figures: exit-pio, exit-mmio, memory, restore, migrate, boot, io (default: all).")
    List<String> metrics;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write the results as JSON.")
    Path json;

    @Option(names = "--chart", paramLabel = "FILE", description = "Also draw the ratios as a PNG.")
    Path chart;

    @Override
    public Integer call() throws Exception {
        int n = samples != null ? samples : quick ? 3 : 5;
        if (n < 1 || n > 100) {
            throw new UserError("--samples " + n + ": must be between 1 and 100");
        }
        int e = exits != null ? exits : quick ? 64_000 : 128_000;
        if (e < BenchGuest.UNROLL || e % BenchGuest.UNROLL != 0) {
            throw new UserError("--exits " + e + ": must be a positive multiple of " + BenchGuest.UNROLL);
        }
        Map<String, Metric> all = allMetrics();
        List<Metric> chosen = new ArrayList<>();
        for (String id : metrics == null ? List.copyOf(all.keySet()) : metrics) {
            Metric m = all.get(id.strip());
            if (m == null) {
                throw new UserError("--metrics: unknown figure '" + id + "' (known: " + String.join(", ", all.keySet()) + ")");
            }
            chosen.add(m);
        }
        checkWritable(json, "--json");
        checkWritable(chart, "--chart");
        List<MetricResult> results = new ArrayList<>();
        List<String> skipped = new ArrayList<>();
        List<String> failed = new ArrayList<>();
        List<String> finished = new ArrayList<>();
        long t0 = System.nanoTime();
        try (BenchContext ctx = BenchContext.create(n, quick, e, System.err)) {
            ctx.say("%d samples per figure%s; the machine is shared, so compare ratios, not absolute numbers",
                    n, quick ? " (--quick)" : "");
            // Figures that need this host's KVM run inside the lab when it has none (labelled so).
            Optional<String> noKvm = KvmDevice.whyUnusable();
            List<Metric> inLab = new ArrayList<>();
            if (noKvm.isPresent()) {
                inLab.addAll(chosen.stream().filter(Metric::direct).toList());
                chosen.removeAll(inLab);
            }
            if (!inLab.isEmpty()) {
                Optional<String> noLab = Lab.availability();
                if (noLab.isPresent()) {
                    inLab.forEach(m -> skipped.add(m.id() + " (" + noKvm.get() + ", and the lab cannot run: " + noLab.get() + ")"));
                } else {
                    long t = System.nanoTime();
                    LabBench.Outcome lab = LabBench.run(inLab, ctx);
                    results.addAll(lab.rows());
                    failed.addAll(lab.failures());
                    inLab.forEach(m -> finished.add(m.id()));
                    saveJson(results, finished, failed);
                    ctx.say("%s done in the lab in %.0f s", String.join(", ", inLab.stream().map(Metric::id).toList()),
                            (System.nanoTime() - t) / 1e9);
                }
            }
            for (Metric m : chosen) {
                String why = m.unavailable(ctx);
                if (why != null) {
                    ctx.say("skipping %s: %s", m.id(), why);
                    skipped.add(m.id() + " (" + why + ")");
                    continue;
                }
                long t = System.nanoTime();
                try {
                    results.addAll(m.run(ctx));
                    ctx.say("%s done in %.0f s", m.id(), (System.nanoTime() - t) / 1e9);
                } catch (Exception failure) {
                    // One figure failing (a peer that would not start, say) costs that figure only.
                    ctx.say("%s failed after %.0f s: %s", m.id(), (System.nanoTime() - t) / 1e9, failure.getMessage());
                    failed.add(m.id() + " (" + failure.getMessage() + ")");
                }
                finished.add(m.id());
                saveJson(results, finished, failed);
            }
            ctx.say("total %.0f s", (System.nanoTime() - t0) / 1e9);
        }
        System.out.print(Report.table(results));
        if (!skipped.isEmpty()) {
            System.out.println("skipped: " + String.join("; ", skipped));
        }
        if (!failed.isEmpty()) {
            System.out.println("failed: " + String.join("; ", failed));
        }
        saveJson(results, finished, failed);
        if (chart != null) {
            Chart.write(chart, results);
        }
        return results.isEmpty() || !failed.isEmpty() ? Cli.EXIT_FAILURE : 0;
    }

    /**
     * Rewrites --json as each metric ends, so a run cut short (the lab machine that runs the direct
     * figures on a host without KVM going silent, say) still leaves what it measured.
     */
    private void saveJson(List<MetricResult> results, List<String> finished, List<String> failed) throws java.io.IOException {
        if (json != null) {
            Report.writeJson(json, results, finished, failed, commandLine(), quick);
        }
    }

    private String commandLine() {
        StringBuilder sb = new StringBuilder("jkvm bench");
        if (quick) {
            sb.append(" --quick");
        }
        if (samples != null) {
            sb.append(" --samples ").append(samples);
        }
        if (exits != null) {
            sb.append(" --exits ").append(exits);
        }
        if (metrics != null) {
            sb.append(" --metrics ").append(String.join(",", metrics));
        }
        return sb.toString();
    }

    private static void checkWritable(Path file, String option) {
        if (file == null) {
            return;
        }
        Path dir = file.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir) || !Files.isWritable(dir)) {
            throw new UserError(option + " " + file + ": directory does not exist or is not writable");
        }
    }
}
