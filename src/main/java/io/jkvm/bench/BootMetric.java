package io.jkvm.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.jkvm.config.VmConfig;
import io.jkvm.image.DefaultImage;
import io.jkvm.image.JkvmHome;
import io.jkvm.lab.Lab;
import io.jkvm.lab.LabOptions;
import io.jkvm.lab.LabResult;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Boot of the stock Debian kernel with the default initramfs, jkvm vs QEMU, in the lab (this
 * host's PVM-backed KVM cannot run stock kernels): process start to the first console byte and to
 * the guest's /init line. All samples run in one lab boot, by {@link BootDriver}.
 */
public final class BootMetric implements Metric {
    static final int MEMORY_MIB = 256;
    private static final ObjectMapper JSON = new ObjectMapper();

    @Override
    public String id() {
        return "boot";
    }

    @Override
    public String unavailable(BenchContext ctx) {
        return labUnavailable();
    }

    /** Why the stock kernel cannot boot in the lab here, or null. */
    static String labUnavailable() {
        Optional<String> lab = Lab.availability();
        if (lab.isPresent()) {
            return lab.get();
        }
        if (DefaultImage.defaultKernel().isEmpty()) {
            return "no kernel with modules in /boot";
        }
        return null;
    }

    static String cmdline() {
        return VmConfig.DEFAULT_CMDLINE + " jkvm.demo";
    }

    @Override
    public List<MetricResult> run(BenchContext ctx) throws Exception {
        Path kernel = DefaultImage.defaultKernel().orElseThrow();
        Path initrd = DefaultImage.ensure(kernel);
        List<String> cmd = driverCommand(BootDriver.class, String.valueOf(ctx.samples()),
                kernel.toString(), initrd.toString(), cmdline(), String.valueOf(MEMORY_MIB),
                JkvmHome.get().resolve("bin/jkvm").toString());
        Duration timeout = Duration.ofSeconds(180 + 150L * 2 * ctx.samples());
        ctx.say("boot: %d boots each of jkvm and QEMU in one lab run (%s, cmdline \"%s\"); this is the slow part",
                ctx.samples(), kernel.getFileName(), cmdline());
        LabResult r = Lab.exec(cmd, LabOptions.defaults().withTimeout(timeout));
        List<BootDriver.BootRun> runs = parse(r.stdout());
        if (r.exitCode() != 0 || runs.isEmpty()) {
            String why = r.error() != null ? r.error() : "driver exit " + r.exitCode() + ": " + r.stderr().strip();
            throw new IOException("boot benchmark in the lab failed: " + why);
        }
        List<String> errors = runs.stream().filter(b -> b.error() != null)
                .map(b -> b.vmm() + " #" + b.sample() + ": " + b.error()).toList();
        if (!errors.isEmpty()) {
            throw new IOException("boot benchmark: " + String.join("; ", errors));
        }
        for (BootDriver.BootRun b : runs) {
            ctx.say("boot sample %d %s: first byte %.0f ms, /init %.0f ms (guest uptime %.2f s), exit %.0f ms",
                    b.sample(), b.vmm(), b.firstByteMs(), b.initMs(), b.guestUptimeS(), b.totalMs());
        }
        ctx.say("boot: lab up in %.1f s, whole lab run %.0f s", seconds(r.boot()), seconds(r.total()));
        return results(runs);
    }

    /** The command line that runs a benchmark driver's main from jkvm's jar (in the lab, at the same path). */
    static List<String> driverCommand(Class<?> driver, String... args) throws IOException {
        Path jar = JkvmHome.get().resolve("target/jkvm.jar");
        if (!Files.isRegularFile(jar)) {
            throw new IOException("no " + jar + ": build with mvn package (bin/jkvm does)");
        }
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-cp", jar.toString(), driver.getName()));
        cmd.addAll(List.of(args));
        return cmd;
    }

    private static double seconds(Duration d) {
        return d == null ? Double.NaN : d.toMillis() / 1000.0;
    }

    static List<MetricResult> results(List<BootDriver.BootRun> runs) {
        String note = "in the lab (nested KVM in QEMU TCG): 1 vCPU, " + MEMORY_MIB + " MiB, QEMU -M pc -kernel";
        return List.of(
                new MetricResult("boot_first_byte_vs_qemu", "boot: process start to first console byte", "ms",
                        stats(runs, "jkvm", BootDriver.BootRun::firstByteMs),
                        stats(runs, "qemu", BootDriver.BootRun::firstByteMs), "qemu", note),
                new MetricResult("boot_init_vs_qemu", "boot: process start to guest /init", "ms",
                        stats(runs, "jkvm", BootDriver.BootRun::initMs), stats(runs, "qemu", BootDriver.BootRun::initMs),
                        "qemu", note),
                new MetricResult("boot_guest_uptime_vs_qemu", "boot: guest's own uptime at /init", "s",
                        stats(runs, "jkvm", BootDriver.BootRun::guestUptimeS),
                        stats(runs, "qemu", BootDriver.BootRun::guestUptimeS), "qemu",
                        "the guest kernel's clock: how fast the guest boots once running, VMM start-up excluded"));
    }

    private static Stats stats(List<BootDriver.BootRun> runs, String vmm,
            java.util.function.ToDoubleFunction<BootDriver.BootRun> field) {
        List<Double> v = runs.stream().filter(b -> b.vmm().equals(vmm)).map(field::applyAsDouble).toList();
        if (v.isEmpty()) {
            throw new IllegalStateException("no boot samples for " + vmm);
        }
        return Stats.of(v);
    }

    /** The driver's JSON lines (other lines, if any, are ignored). */
    static List<BootDriver.BootRun> parse(String stdout) throws IOException {
        List<BootDriver.BootRun> out = new ArrayList<>();
        for (JsonNode n : jsonLines(stdout)) {
            out.add(new BootDriver.BootRun(n.path("vmm").asText(), n.path("sample").asInt(),
                    n.path("first_byte_ms").asDouble(), n.path("init_ms").asDouble(), n.path("total_ms").asDouble(),
                    n.path("guest_uptime_s").asDouble(-1), n.path("exit").asInt(), n.hasNonNull("error") ? n.get("error").asText() : null));
        }
        return out;
    }

    /** A lab driver's JSON lines (other lines, if any, are ignored). */
    static List<JsonNode> jsonLines(String stdout) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (String line : stdout.split("\n")) {
            line = line.strip();
            if (line.startsWith("{")) {
                out.add(JSON.readTree(line));
            }
        }
        return out;
    }
}
