package io.jkvm.bench;

import io.jkvm.image.JkvmHome;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * VMM memory overhead, directly on this host: 1 vCPU, 128 MiB guest that touches every page of
 * its RAM above 1 MiB, then says 'R' on the debug console and halts. At that point the VMM's PSS
 * (from /proc/PID/smaps) minus the PSS of its guest RAM mapping is its overhead. jkvm runs as
 * its own process through bin/jkvm (JVM flags and AOT cache as users get them), QEMU as usual.
 *
 * <p>The same runs give a second figure: process start to the guest's first instruction (its 'S'
 * on the debug console): the VMM's start-up, including the JVM for jkvm.
 */
public final class MemoryOverheadMetric implements Metric {
    static final long RAM = 128L << 20;
    /** Let lazy work that follows the guest's signal (JIT, GC) settle before reading smaps. */
    private static final long SETTLE_MS = 500;

    @Override
    public boolean direct() {
        return true;
    }

    @Override
    public String id() {
        return "memory";
    }

    @Override
    public String unavailable(BenchContext ctx) {
        return QemuGuest.sideBySideUnavailable();
    }

    /** One VMM process measured at the guest's signal: PSS and anonymous overhead, start-up. */
    record Sample(double overheadMib, double anonMib, double startMs) {}

    @Override
    public List<MetricResult> run(BenchContext ctx) throws Exception {
        Path image = BenchGuest.build(ctx.workDir(), "touch", BenchGuest.Kind.TOUCH, 0, RAM);
        List<Double> jOver = new ArrayList<>();
        List<Double> qOver = new ArrayList<>();
        List<Double> jPriv = new ArrayList<>();
        List<Double> qPriv = new ArrayList<>();
        List<Double> jStart = new ArrayList<>();
        List<Double> qStart = new ArrayList<>();
        for (int i = 0; i < ctx.samples(); i++) {
            Sample j = measure(jkvmCommand(image));
            Sample q = measure(QemuGuest.command(image, RAM, true));
            jOver.add(j.overheadMib());
            qOver.add(q.overheadMib());
            jPriv.add(j.anonMib());
            qPriv.add(q.anonMib());
            jStart.add(j.startMs());
            qStart.add(q.startMs());
            ctx.say("memory sample %d/%d: jkvm %.1f MiB PSS, %.1f MiB anon, start %.0f ms;"
                    + " qemu %.1f MiB PSS, %.1f MiB anon, start %.0f ms", i + 1, ctx.samples(),
                    j.overheadMib(), j.anonMib(), j.startMs(), q.overheadMib(), q.anonMib(), q.startMs());
        }
        return List.of(
                new MetricResult("memory_overhead_vs_qemu", "VMM memory overhead (PSS - guest RAM)", "MiB",
                        Stats.of(jOver), Stats.of(qOver), "qemu", "1 vCPU, 128 MiB guest, all RAM touched"),
                new MetricResult("memory_anon_vs_qemu", "VMM anonymous memory (excl. guest RAM)", "MiB",
                        Stats.of(jPriv), Stats.of(qPriv), "qemu",
                        "heap, stacks, malloc: independent of who else maps the same libraries"),
                new MetricResult("start_to_guest_vs_qemu", "process start to first guest instruction", "ms",
                        Stats.of(jStart), Stats.of(qStart), "qemu",
                        "directly on this host, 128 MiB guest: the guest's first debug-console byte"));
    }

    static List<String> jkvmCommand(Path image) {
        return List.of(JkvmHome.get().resolve("bin/jkvm").toString(), "bench", "guest",
                "--image", image.toString(), "--memory", (RAM >> 20) + "M");
    }


    static Sample measure(List<String> cmd) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("JKVM_NO_BUILD", "1");
        long t0 = System.nanoTime();
        Process p = pb.start();
        try {
            InputStream out = p.getInputStream();
            Tools.awaitByte(out, 'S', p, cmd.getFirst());
            double startMs = (System.nanoTime() - t0) / 1e6;
            Tools.awaitByte(out, 'R', p, cmd.getFirst());
            Thread.sleep(SETTLE_MS);
            Smaps smaps = Smaps.read(p.pid());
            long ramKb = smaps.guestRamPssKb(RAM);
            if (ramKb < (RAM >> 10) / 2) {
                throw new IOException("cannot find the guest RAM mapping of " + cmd.getFirst() + " (pid " + p.pid()
                        + "): " + ramKb + " KiB");
            }
            return new Sample(smaps.overheadKb(RAM) / 1024.0, smaps.anonOverheadKb(RAM) / 1024.0, startMs);
        } finally {
            p.destroy();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }
}
