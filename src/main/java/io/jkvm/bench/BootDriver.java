package io.jkvm.bench;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;

/**
 * Runs inside the lab (one L1 boot for every sample): starts jkvm and QEMU alternately on the same
 * kernel, initramfs and command line, timestamps each VMM's first console byte and the default
 * guest's /init line ({@value #INIT_LINE}) on its stdout, and prints one JSON object per boot.
 *
 * <p>usage: BootDriver SAMPLES KERNEL INITRD CMDLINE MEMORY_MIB JKVM_LAUNCHER
 */
public final class BootDriver {
    static final String INIT_LINE = "jkvm-guest: up";
    private static final long BOOT_TIMEOUT_S = 240;

    private BootDriver() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 6) {
            System.err.println("usage: BootDriver SAMPLES KERNEL INITRD CMDLINE MEMORY_MIB JKVM_LAUNCHER");
            System.exit(2);
        }
        int samples = Integer.parseInt(args[0]);
        String kernel = args[1];
        String initrd = args[2];
        String cmdline = args[3];
        int mib = Integer.parseInt(args[4]);
        String launcher = args[5];
        List<String> jkvm = jkvmCommand(launcher, kernel, initrd, cmdline, mib);
        List<String> qemu = qemuCommand(kernel, initrd, cmdline, mib);
        warmUp(List.of(kernel, initrd), launcher);
        for (int i = 1; i <= samples; i++) {
            // Alternate who goes first, so slow drift in L1 does not favour one of them.
            List<String> order = i % 2 == 1 ? List.of("jkvm", "qemu") : List.of("qemu", "jkvm");
            for (String vmm : order) {
                System.out.println(boot(vmm, i, vmm.equals("jkvm") ? jkvm : qemu).toJson());
                System.out.flush();
            }
        }
    }

    static List<String> jkvmCommand(String launcher, String kernel, String initrd, String cmdline, int mib) {
        return List.of(launcher, "run", "--kernel", kernel, "--initrd", initrd, "--cmdline", cmdline,
                "--cpus", "1", "--memory", mib + "M", "--on-reboot", "exit");
    }

    /** -M pc: faster to /init than microvm in the lab (SeaBIOS and all; see shared/docs/host-kvm.md). */
    static List<String> qemuCommand(String kernel, String initrd, String cmdline, int mib) {
        return List.of(Tools.QEMU, "-accel", "kvm", "-cpu", "host", "-M", "pc", "-smp", "1", "-m", mib + "M",
                "-nodefaults", "-no-user-config", "-display", "none", "-nic", "none", "-serial", "stdio",
                "-no-reboot", "-kernel", kernel, "-initrd", initrd, "-append", cmdline);
    }

    /** Reads the files both VMMs need and starts each VMM binary once, so neither pays a cold cache. */
    private static void warmUp(List<String> files, String launcher) throws IOException, InterruptedException {
        for (String f : files) {
            Files.readAllBytes(Path.of(f));
        }
        for (List<String> cmd : List.of(List.of(launcher, "--version"), List.of(Tools.QEMU, "--version"))) {
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD);
            pb.environment().put("JKVM_NO_BUILD", "1");
            Process p = pb.start();
            p.waitFor(120, TimeUnit.SECONDS);
        }
    }

    static BootRun boot(String vmm, int sample, List<String> cmd) {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("JKVM_NO_BUILD", "1");
        long t0 = System.nanoTime();
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            return BootRun.failed(vmm, sample, "cannot start: " + e.getMessage());
        }
        Thread watchdog = Thread.ofPlatform().daemon().start(() -> {
            try {
                if (!p.waitFor(BOOT_TIMEOUT_S, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                }
            } catch (InterruptedException e) {
                p.destroyForcibly();
            }
        });
        long first = -1;
        long init = -1;
        StringBuilder tail = new StringBuilder();
        try (InputStream out = p.getInputStream()) {
            byte[] buf = new byte[4096];
            StringBuilder line = new StringBuilder();
            for (int n; (n = out.read(buf)) > 0; ) {
                long now = System.nanoTime();
                if (first < 0) {
                    first = now;
                }
                String s = new String(buf, 0, n, StandardCharsets.ISO_8859_1);
                tail.append(s);
                if (tail.length() > 2000) {
                    tail.delete(0, tail.length() - 2000);
                }
                if (init < 0) {
                    line.append(s);
                    if (line.indexOf(INIT_LINE) >= 0) {
                        init = now;
                    } else if (line.length() > 200) {
                        line.delete(0, line.length() - 100);
                    }
                }
            }
            int status = p.waitFor();
            long end = System.nanoTime();
            watchdog.interrupt();
            if (init < 0) {
                return BootRun.failed(vmm, sample, "no '" + INIT_LINE + "' line (exit " + status + "): "
                        + tail.toString().replaceAll("[^\\x20-\\x7e]", " ").strip());
            }
            return new BootRun(vmm, sample, ms(first - t0), ms(init - t0), ms(end - t0), guestUptime(tail), status,
                    null);
        } catch (IOException | InterruptedException e) {
            p.destroyForcibly();
            return BootRun.failed(vmm, sample, e.toString());
        }
    }

    private static final java.util.regex.Pattern UPTIME = java.util.regex.Pattern.compile("uptime_s=([0-9.]+)");

    /** The default guest's own uptime at /init (its second line), or -1: the guest's side of boot. */
    static double guestUptime(CharSequence output) {
        java.util.regex.Matcher m = UPTIME.matcher(output);
        return m.find() ? Double.parseDouble(m.group(1)) : -1;
    }

    private static double ms(long nanos) {
        return Math.round(nanos / 1e4) / 100.0;
    }

    /** One boot, as printed by the driver and parsed on the host. */
    public record BootRun(String vmm, int sample, double firstByteMs, double initMs, double totalMs,
            double guestUptimeS, int exit, String error) {
        static BootRun failed(String vmm, int sample, String error) {
            return new BootRun(vmm, sample, -1, -1, -1, -1, -1, error);
        }

        String toJson() {
            StringBuilder sb = new StringBuilder();
            sb.append(String.format(Locale.ROOT,
                    "{\"vmm\":\"%s\",\"sample\":%d,\"first_byte_ms\":%.2f,\"init_ms\":%.2f,\"total_ms\":%.2f,"
                            + "\"guest_uptime_s\":%.2f,\"exit\":%d",
                    vmm, sample, firstByteMs, initMs, totalMs, guestUptimeS, exit));
            if (error != null) {
                sb.append(",\"error\":\"").append(error.replace("\\", "\\\\").replace("\"", "\\\"")).append('"');
            }
            return sb.append('}').toString();
        }
    }
}
