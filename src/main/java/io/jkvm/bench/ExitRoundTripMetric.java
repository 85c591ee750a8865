package io.jkvm.bench;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * Userspace exit round trip, port I/O or MMIO: the same guest on jkvm, on the C floor and on QEMU,
 * directly on this host. Per sample and VMM the guest runs twice, with 0 and with N exits; the
 * time per exit is the difference over N, which cancels start-up (QEMU's whole process, jkvm's and
 * the floor's vCPU start). jkvm and the floor time from the vCPU's start to the done port inside
 * their process; QEMU is timed as a process, the only handle it offers.
 *
 * <p>On a PVM host every guest instruction is emulated (~0.5 us), so the {@code out}/{@code mov}
 * itself is part of each exit for all three alike; the loop's {@code dec/jnz} is amortized over
 * {@value BenchGuest#UNROLL} exits.
 */
public final class ExitRoundTripMetric implements Metric {
    private final BenchGuest.Kind kind;

    public ExitRoundTripMetric(BenchGuest.Kind kind) {
        if (kind == BenchGuest.Kind.TOUCH) {
            throw new IllegalArgumentException("not an exit kind: " + kind);
        }
        this.kind = kind;
    }

    private String label() {
        return kind == BenchGuest.Kind.PIO ? "pio" : "mmio";
    }

    @Override
    public boolean direct() {
        return true;
    }

    @Override
    public String id() {
        return "exit-" + label();
    }

    @Override
    public String unavailable(BenchContext ctx) {
        String why = BenchGuest.unavailableOnKvm();
        return why != null ? why : CFloor.unavailable();
    }

    /** Per-exit microseconds of each VMM, sample by sample. */
    public record Samples(List<Double> jkvm, List<Double> floor, List<Double> qemu) {}

    @Override
    public List<MetricResult> run(BenchContext ctx) throws Exception {
        Samples s = measure(ctx, QemuGuest.unavailable() == null);
        String what = kind == BenchGuest.Kind.PIO ? "port I/O" : "MMIO";
        String note = String.format("%d exits per run minus a 0-exit run; guest instructions are emulated on PVM",
                ctx.exits());
        List<MetricResult> out = new ArrayList<>();
        out.add(new MetricResult("exit_" + label() + "_vs_floor", "exit round trip, " + what, "us",
                Stats.of(s.jkvm()), Stats.of(s.floor()), "c-floor", note));
        if (!s.qemu().isEmpty()) {
            out.add(new MetricResult("exit_" + label() + "_vs_qemu", "exit round trip, " + what, "us",
                    Stats.of(s.jkvm()), Stats.of(s.qemu()), "qemu", note));
        } else {
            ctx.say("%s: QEMU not installed, only the C floor is compared", id());
        }
        return out;
    }

    /** Measures jkvm, the floor and (if {@code withQemu}) QEMU; the first round is a discarded warm-up. */
    public Samples measure(BenchContext ctx, boolean withQemu) throws Exception {
        Path dir = ctx.workDir();
        Path zero = BenchGuest.build(dir, id() + "-0", kind, 0, 0);
        Path full = BenchGuest.build(dir, id() + "-n", kind, ctx.exits(), 0);
        byte[] zeroImage = Files.readAllBytes(zero);
        byte[] fullImage = Files.readAllBytes(full);
        CFloor floor = CFloor.compile(dir);
        List<Double> jkvm = new ArrayList<>();
        List<Double> floors = new ArrayList<>();
        List<Double> qemu = new ArrayList<>();
        double n = ctx.exits();
        for (int i = -1; i < ctx.samples(); i++) {
            // Interleaved, so that a burst of load from a neighbour hits every VMM alike. Each figure is
            // a difference of two runs; on a loaded machine (or in the lab, where QEMU's process start
            // varies by seconds) noise can exceed it, and a difference of zero or less is no
            // measurement at all, so that sample is taken again (a few times at most).
            double j = positive(id() + " jkvm", () -> (jkvmRun(fullImage, ctx.exits()) - jkvmRun(zeroImage, 0)) / n / 1000.0, ctx);
            double f = positive(id() + " c-floor", () -> {
                CFloor.Run f0 = floor.run(zero);
                CFloor.Run fn = floor.run(full);
                if (fn.exits() != ctx.exits()) {
                    throw new IllegalStateException("C floor saw " + fn.exits() + " exits, expected " + ctx.exits());
                }
                return (fn.nanos() - f0.nanos()) / n / 1000.0;
            }, ctx);
            double q = Double.NaN;
            if (withQemu) {
                q = positive(id() + " qemu", () -> (QemuGuest.runTimed(full, 16 << 20) - QemuGuest.runTimed(zero, 16 << 20))
                        / n / 1000.0, ctx);
            }
            if (i < 0) {
                continue; // warm-up: JIT for jkvm, page cache and binaries for all
            }
            jkvm.add(j);
            floors.add(f);
            if (withQemu) {
                qemu.add(q);
            }
            ctx.say("%s sample %d/%d: jkvm %.2f us, c-floor %.2f us%s", id(), i + 1, ctx.samples(), j, f,
                    withQemu ? String.format(", qemu %.2f us", q) : "");
        }
        return new Samples(jkvm, floors, qemu);
    }

    /** One measurement of a difference of two runs. */
    private interface Difference {
        double take() throws Exception;
    }

    /** Takes {@code d} until it is positive, at most four times; the last try is kept either way. */
    private static double positive(String what, Difference d, BenchContext ctx) throws Exception {
        double v = d.take();
        for (int retry = 1; v <= 0 && retry < 4; retry++) {
            ctx.say("%s: run difference %.2f us is noise, not a measurement: measuring again", what, v);
            v = d.take();
        }
        return v;
    }

    private static long jkvmRun(byte[] image, int expectedExits) throws Exception {
        try (JkvmGuest g = JkvmGuest.create(image, 2 << 20, false, java.io.OutputStream.nullOutputStream())) {
            long t = g.runTimed(Duration.ofSeconds(600));
            if (g.exits() != expectedExits) {
                throw new IllegalStateException("jkvm saw " + g.exits() + " exits, expected " + expectedExits);
            }
            return t;
        }
    }
}
