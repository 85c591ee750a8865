package io.jkvm.bench;

import io.jkvm.image.JkvmHome;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * What confinement costs on the hottest path a VMM has, the exit round trip (issue 13: "the bench
 * shows confinement costs nothing on the exit round trip, same run, on and off"). Every KVM_RUN
 * and every other system call of a confined VMM passes through two seccomp filters, the process's
 * and the vCPU thread's. The same port I/O guest runs as its own {@code jkvm bench guest} process
 * with {@code --seccomp on} and with {@code --seccomp off}, interleaved; per sample and mode the
 * figure is (N exits minus 0 exits) / N, as {@link ExitRoundTripMetric} does, so process start
 * and confinement's own set-up cancel out. Landlock is off in both: it checks opens, and a
 * running VMM's exits open nothing.
 */
public final class ConfinementCostMetric implements Metric {
    @Override
    public String id() {
        return "exit-confined";
    }

    @Override
    public boolean direct() {
        return true;
    }

    @Override
    public String unavailable(BenchContext ctx) {
        String why = BenchGuest.unavailableOnKvm();
        return why != null ? why : io.jkvm.isolation.SeccompFilter.unavailable();
    }

    @Override
    public List<MetricResult> run(BenchContext ctx) throws Exception {
        Path zero = BenchGuest.build(ctx.workDir(), id() + "-0", BenchGuest.Kind.PIO, 0, 0);
        Path full = BenchGuest.build(ctx.workDir(), id() + "-n", BenchGuest.Kind.PIO, ctx.exits(), 0);
        double n = ctx.exits();
        List<Double> on = new ArrayList<>();
        List<Double> off = new ArrayList<>();
        for (int i = -1; i < ctx.samples(); i++) {
            double c = perExit(full, zero, "on", n);
            double u = perExit(full, zero, "off", n);
            if (i < 0) {
                continue; // warm-up: page cache, the AOT cache
            }
            on.add(c);
            off.add(u);
            ctx.say("%s sample %d/%d: seccomp on %.2f us, off %.2f us", id(), i + 1, ctx.samples(), c, u);
        }
        return List.of(new MetricResult("exit_pio_confined_vs_unconfined", "exit round trip, port I/O, confined", "us",
                Stats.of(on), Stats.of(off), "jkvm unconfined",
                String.format("own process each; seccomp on (process and vCPU-thread filters) against off; %d exits minus 0",
                        ctx.exits())));
    }

    private static double perExit(Path full, Path zero, String seccomp, double n) throws IOException, InterruptedException {
        return (timed(full, seccomp) - timed(zero, seccomp)) / n / 1000.0;
    }

    /** Runs one bench guest process and returns its 'nanos N' figure. */
    static long timed(Path image, String seccomp) throws IOException, InterruptedException {
        List<String> cmd = List.of(JkvmHome.get().resolve("bin/jkvm").toString(), "bench", "guest",
                "--image", image.toString(), "--memory", "16M", "--seccomp", seccomp, "--timed");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("JKVM_NO_BUILD", "1");
        Process p = pb.start();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(600, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IOException("jkvm bench guest --seccomp " + seccomp + " did not end");
        }
        for (String line : err.lines().toList()) {
            if (line.startsWith("nanos ")) {
                return Long.parseLong(line.substring(6).trim());
            }
        }
        throw new IOException("jkvm bench guest --seccomp " + seccomp + " exited " + p.exitValue()
                + " without a time: " + err.lines().reduce((a, b) -> b).orElse(""));
    }
}
