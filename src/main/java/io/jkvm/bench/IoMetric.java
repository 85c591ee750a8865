package io.jkvm.bench;

import com.fasterxml.jackson.databind.JsonNode;
import io.jkvm.image.CpioWriter;
import io.jkvm.image.DefaultImage;
import io.jkvm.image.JkvmHome;
import io.jkvm.lab.Lab;
import io.jkvm.lab.LabOptions;
import io.jkvm.lab.LabResult;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * virtio-blk and virtio-net throughput, jkvm vs QEMU, in the lab with the stock kernel: the
 * default initramfs plus a second cpio archive (the kernel unpacks concatenated archives) holding
 * {@code guest-io}, a small static C program compiled at bench time, and the round script. The
 * guest measures with its own clock: 1 MiB O_DIRECT sequential reads and writes (writes end with
 * fdatasync), 4 KiB O_DIRECT random reads at queue depth 1, and TCP to and from the lab machine
 * over a TAP device. Both VMMs get the same raw disk (on the lab machine's tmpfs) and the same
 * TAP; QEMU uses its userspace virtio-net (vhost=off) like jkvm.
 */
public final class IoMetric implements Metric {

    /** A figure: the guest's key, the report's name and title, its unit. */
    private record Figure(String key, String name, String title, String unit) {}

    private static final List<Figure> FIGURES = List.of(
            new Figure("seqread_mibs", "blk_seq_read_vs_qemu", "virtio-blk sequential read, 1 MiB O_DIRECT (higher is better)", "MiB/s"),
            new Figure("seqwrite_mibs", "blk_seq_write_vs_qemu", "virtio-blk sequential write + fdatasync (higher is better)", "MiB/s"),
            new Figure("randread_iops", "blk_rand_read_vs_qemu", "virtio-blk 4 KiB random read, QD1 (higher is better)", "IOPS"),
            new Figure("net_tx_mibs", "net_tx_vs_qemu", "virtio-net TCP guest to host (higher is better)", "MiB/s"),
            new Figure("net_rx_mibs", "net_rx_vs_qemu", "virtio-net TCP host to guest (higher is better)", "MiB/s"));

    @Override
    public String id() {
        return "io";
    }

    @Override
    public String unavailable(BenchContext ctx) {
        String lab = BootMetric.labUnavailable();
        if (lab != null) {
            return lab;
        }
        if (!Tools.onPath("gcc") || !Files.isRegularFile(Path.of("/usr/lib/x86_64-linux-gnu/libc.a"))) {
            return "gcc with a static libc (libc6-dev) is needed to build the guest's I/O tool";
        }
        return null;
    }

    @Override
    public List<MetricResult> run(BenchContext ctx) throws Exception {
        Path kernel = DefaultImage.defaultKernel().orElseThrow();
        Path initrd = benchInitrd(ctx.workDir(), DefaultImage.ensure(kernel));
        int seconds = ctx.quick() ? 2 : 3;
        List<String> cmd = BootMetric.driverCommand(IoDriver.class, String.valueOf(ctx.samples()), String.valueOf(seconds),
                kernel.toString(), initrd.toString(), JkvmHome.get().resolve("bin/jkvm").toString());
        ctx.say("io: virtio-blk and virtio-net, %d rounds of %d s per test in one boot each of jkvm, jkvm with a drive"
                + " rate limiter and QEMU (lab)",
                ctx.samples(), seconds);
        LabResult r = Lab.exec(cmd, LabOptions.defaults()
                .withTimeout(Duration.ofSeconds(450 + 3L * ctx.samples() * seconds * 8)));
        List<JsonNode> rounds = parse(r.stdout());
        List<String> errors = rounds.stream().filter(n -> n.has("error"))
                .map(n -> n.path("vmm").asText() + ": " + n.path("error").asText()).toList();
        if (r.exitCode() != 0 || rounds.isEmpty() || !errors.isEmpty()) {
            String why = r.error() != null ? r.error()
                    : !errors.isEmpty() ? String.join("; ", errors) : "driver exit " + r.exitCode() + ": " + r.stderr().strip();
            throw new IOException("io benchmark in the lab failed: " + why);
        }
        for (JsonNode n : rounds) {
            ctx.say("io %s round %d: %s", n.path("vmm").asText(), n.path("round").asInt(), n);
        }
        return results(rounds);
    }

    static List<MetricResult> results(List<JsonNode> rounds) {
        String note = "in the lab (nested KVM in QEMU TCG): 1 vCPU, " + IoDriver.MEMORY_MIB + " MiB, "
                + IoDriver.DISK_MIB + " MiB raw disk on tmpfs, TAP; QEMU -M pc, vhost=off";
        List<MetricResult> out = new ArrayList<>();
        for (Figure f : FIGURES) {
            out.add(new MetricResult(f.name(), f.title(), f.unit(), stats(rounds, "jkvm", f.key()),
                    stats(rounds, "qemu", f.key()), "qemu", note));
        }
        if (rounds.stream().anyMatch(n -> n.path("vmm").asText().equals(LIMITED))) {
            // Issue 14's figure: what the guest measures under a drive rate limiter, against the limit.
            String limitNote = String.format("drive rate_limiter bandwidth %d MiB/s (a %d KiB bucket refilled every %d ms),"
                    + " same guest and disk; 1.00x is the limit exactly", IoDriver.LIMIT_MIBS, IoDriver.LIMIT_BUCKET_BYTES >> 10,
                    IoDriver.LIMIT_REFILL_MS);
            for (String[] f : new String[][] {{"seqread_mibs", "blk_seq_read_limited_vs_limit", "sequential read"},
                    {"seqwrite_mibs", "blk_seq_write_limited_vs_limit", "sequential write + fdatasync"}}) {
                Stats got = stats(rounds, LIMITED, f[0]);
                List<Double> limit = java.util.Collections.nCopies(got.samples().size(), (double) IoDriver.LIMIT_MIBS);
                out.add(new MetricResult(f[1], "virtio-blk " + f[2] + " under a " + IoDriver.LIMIT_MIBS
                        + " MiB/s rate limiter (guest-measured)", "MiB/s", got, Stats.of(limit), "the limit", limitNote));
            }
        }
        return out;
    }

    /** The rounds of the run with a drive rate limiter ({@link IoDriver#LIMIT_MIBS}). */
    static final String LIMITED = "jkvm-limited";

    private static Stats stats(List<JsonNode> rounds, String vmm, String key) {
        List<Double> v = rounds.stream().filter(n -> n.path("vmm").asText().equals(vmm) && n.has(key))
                .map(n -> n.get(key).asDouble()).toList();
        if (v.isEmpty()) {
            throw new IllegalStateException("no " + key + " samples for " + vmm);
        }
        return Stats.of(v);
    }

    static List<JsonNode> parse(String stdout) throws IOException {
        return BootMetric.jsonLines(stdout);
    }

    /** The default initramfs with a second archive appended: /bench/guest-io and /bench/run.sh. */
    static Path benchInitrd(Path dir, Path defaultInitrd) throws IOException {
        Path src = dir.resolve("guest-io.c");
        Files.write(src, resource("guest-io.c"));
        Tools.run(dir, List.of("gcc", "-O2", "-static", "-o", "guest-io", "guest-io.c"), 180);
        Path extra = dir.resolve("bench.cpio.gz");
        try (CpioWriter w = CpioWriter.gzipped(extra)) {
            w.directory("bench", 0755);
            w.file("bench/guest-io", dir.resolve("guest-io"), 0755);
            w.file("bench/run.sh", resource("guest-io.sh"), 0755);
        }
        Path out = dir.resolve("bench-initrd.cpio.gz");
        Files.copy(defaultInitrd, out);
        Files.write(out, Files.readAllBytes(extra), StandardOpenOption.APPEND);
        return out;
    }

    private static byte[] resource(String name) throws IOException {
        try (InputStream in = IoMetric.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IOException("resource " + name + " missing from the jar");
            }
            return in.readAllBytes();
        }
    }
}
