package io.jkvm.bench;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Runs inside the lab: boots the bench guest (default initramfs plus {@code guest-io}, see
 * {@link IoMetric}) once under jkvm, once under jkvm with a drive rate limiter of
 * {@value #LIMIT_MIBS} MiB/s, and once under QEMU, each with the same raw disk on the lab
 * machine's tmpfs and the same TAP device, and prints one JSON object per VMM and round with the
 * rates the guest measured. The TAP's address and the two TCP servers the guest talks to
 * ({@value #RX_PORT}: sends for the round's seconds, {@value #TX_PORT}: reads to end of stream)
 * live only inside the lab machine.
 *
 * <p>usage: IoDriver ROUNDS SECONDS KERNEL INITRD JKVM_LAUNCHER
 */
public final class IoDriver {
    static final String TAP = "jkvmio0";
    static final String HOST_IP = "10.98.0.1";
    static final int RX_PORT = 5201;
    static final int TX_PORT = 5202;
    static final int DISK_MIB = 64;
    static final int MEMORY_MIB = 256;
    static final String LINE = "jkvm-io: round=";
    /**
     * The rate limit of the third run (jkvm, drive {@code rate_limiter}): 10 MiB/s as a bucket of
     * 1 MiB refilled every 100 ms, so the starting burst (one bucket) is a tenth of a second's
     * worth and a round of a few seconds measures the rate, not the burst.
     */
    static final int LIMIT_MIBS = 10;
    static final long LIMIT_BUCKET_BYTES = 1L << 20;
    static final int LIMIT_REFILL_MS = 100;
    private static final Pattern ROUND = Pattern.compile("jkvm-io: round=(\\d+)((?: \\w+=[0-9.]+)+)");
    private static final Pattern PAIR = Pattern.compile("(\\w+)=([0-9.]+)");

    private IoDriver() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 5) {
            System.err.println("usage: IoDriver ROUNDS SECONDS KERNEL INITRD JKVM_LAUNCHER");
            System.exit(2);
        }
        int rounds = Integer.parseInt(args[0]);
        int seconds = Integer.parseInt(args[1]);
        String kernel = args[2];
        String initrd = args[3];
        String launcher = args[4];
        Path disk = Files.createTempFile(Path.of("/dev/shm"), "jkvm-io", ".raw");
        byte[] mib = new byte[1 << 20];
        Arrays.fill(mib, (byte) 0x5a); // real pages, not tmpfs holes, behind every read
        try (OutputStream o = Files.newOutputStream(disk)) {
            for (int i = 0; i < DISK_MIB; i++) {
                o.write(mib);
            }
        }
        sh("ip tuntap add dev " + TAP + " mode tap && ip addr add " + HOST_IP + "/24 dev " + TAP
                + " && ip link set " + TAP + " up");
        InetAddress host = InetAddress.getByName(HOST_IP);
        startServer(new InetSocketAddress(host, RX_PORT), s -> sendFor(s, seconds));
        startServer(new InetSocketAddress(host, TX_PORT), IoDriver::drain);
        String cmdline = io.jkvm.config.VmConfig.DEFAULT_CMDLINE + " quiet jkvm.run=/bench/run.sh jkvm.rounds=" + rounds
                + " jkvm.secs=" + seconds;
        List<String> jkvm = List.of(launcher, "run", "--kernel", kernel, "--initrd", initrd, "--cmdline", cmdline,
                "--cpus", "1", "--memory", MEMORY_MIB + "M", "--disk", "path=" + disk, "--net", "tap=" + TAP);
        // QEMU's userspace virtio-net (vhost=off), like jkvm's; default cache mode (host page cache).
        List<String> qemu = List.of(Tools.QEMU, "-accel", "kvm", "-cpu", "host", "-M", "pc", "-smp", "1",
                "-m", MEMORY_MIB + "M", "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio",
                "-no-reboot", "-kernel", kernel, "-initrd", initrd, "-append", cmdline,
                "-drive", "file=" + disk + ",format=raw,if=none,id=d0", "-device", "virtio-blk-pci,drive=d0",
                "-netdev", "tap,id=n0,ifname=" + TAP + ",script=no,downscript=no,vhost=off",
                "-device", "virtio-net-pci,netdev=n0");
        // The same guest and disk under a drive rate limiter, from Firecracker's configuration document.
        Path config = Files.createTempFile(Path.of("/dev/shm"), "jkvm-io", ".json");
        Files.writeString(config, limitedConfig(kernel, initrd, cmdline, disk.toString()));
        List<String> limited = List.of(launcher, "run", "--config-file", config.toString(), "--no-api");
        long timeout = 240 + (long) rounds * seconds * 8;
        run("jkvm", jkvm, rounds, timeout);
        run("jkvm-limited", limited, rounds, timeout);
        run("qemu", qemu, rounds, timeout);
        Files.deleteIfExists(config);
        Files.deleteIfExists(disk);
    }

    private static void run(String vmm, List<String> cmd, int rounds, long timeoutS) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("JKVM_NO_BUILD", "1");
        Process p = pb.start();
        Thread watchdog = Thread.ofPlatform().daemon().start(() -> {
            try {
                if (!p.waitFor(timeoutS, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                }
            } catch (InterruptedException e) {
                p.destroyForcibly();
            }
        });
        int seen = 0;
        StringBuilder tail = new StringBuilder();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.ISO_8859_1))) {
            for (String line; (line = r.readLine()) != null; ) {
                tail.append(line).append('\n');
                if (tail.length() > 3000) {
                    tail.delete(0, tail.length() - 3000);
                }
                Map<String, Double> round = parseRound(line);
                if (round != null) {
                    seen++;
                    System.out.println(json(vmm, round));
                    System.out.flush();
                }
            }
        }
        int status = p.waitFor();
        watchdog.interrupt();
        if (seen < rounds) {
            String why = tail.toString().replaceAll("[^\\x20-\\x7e\\n]", " ").strip();
            System.out.println("{\"vmm\":\"" + vmm + "\",\"error\":\"" + seen + " of " + rounds
                    + " rounds (exit " + status + "): " + why.replace("\\", "\\\\").replace("\"", "'").replace("\n", " | ")
                    + "\"}");
        }
    }

    /** Firecracker's configuration document for the limited run: the same machine, disk and TAP. */
    static String limitedConfig(String kernel, String initrd, String cmdline, String disk) {
        var m = new com.fasterxml.jackson.databind.ObjectMapper();
        var root = m.createObjectNode();
        root.putObject("boot-source").put("kernel_image_path", kernel).put("initrd_path", initrd).put("boot_args", cmdline);
        root.putObject("machine-config").put("vcpu_count", 1).put("mem_size_mib", MEMORY_MIB);
        var drive = root.putArray("drives").addObject().put("drive_id", "vda").put("path_on_host", disk)
                .put("is_root_device", false).put("is_read_only", false);
        drive.putObject("rate_limiter").putObject("bandwidth").put("size", LIMIT_BUCKET_BYTES).put("refill_time", LIMIT_REFILL_MS);
        root.putArray("network-interfaces").addObject().put("iface_id", "eth0").put("host_dev_name", TAP);
        return root.toString();
    }

    /** The figures of one "jkvm-io: round=N k=v ..." line, with "round" among them, or null. */
    static Map<String, Double> parseRound(String line) {
        Matcher m = ROUND.matcher(line);
        if (!m.find()) {
            return null;
        }
        Map<String, Double> out = new LinkedHashMap<>();
        out.put("round", Double.parseDouble(m.group(1)));
        Matcher kv = PAIR.matcher(m.group(2));
        while (kv.find()) {
            out.put(kv.group(1), Double.parseDouble(kv.group(2)));
        }
        return out;
    }

    static String json(String vmm, Map<String, Double> round) {
        StringBuilder sb = new StringBuilder("{\"vmm\":\"").append(vmm).append('"');
        round.forEach((k, v) -> sb.append(",\"").append(k).append("\":").append(String.format(Locale.ROOT, "%.2f", v)));
        return sb.append('}').toString();
    }

    private interface Handler {
        void serve(Socket s) throws IOException;
    }

    private static void startServer(InetSocketAddress at, Handler h) throws IOException {
        ServerSocket ss = new ServerSocket();
        ss.setReuseAddress(true);
        ss.bind(at);
        Thread.ofPlatform().daemon().start(() -> {
            while (true) {
                try (Socket s = ss.accept()) {
                    h.serve(s);
                } catch (IOException e) {
                    // one broken connection (a guest that died): the next round connects again
                }
            }
        });
    }

    private static void sendFor(Socket s, int seconds) throws IOException {
        byte[] buf = new byte[1 << 16];
        Arrays.fill(buf, (byte) 0xa5);
        OutputStream o = s.getOutputStream();
        long end = System.nanoTime() + seconds * 1_000_000_000L;
        while (System.nanoTime() < end) {
            o.write(buf);
        }
    }

    private static void drain(Socket s) throws IOException {
        InputStream in = s.getInputStream();
        byte[] buf = new byte[1 << 16];
        while (in.read(buf) > 0) {
            // count nothing: the guest measures its own rate up to our close
        }
    }

    private static void sh(String script) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("sh", "-c", script).inheritIO().start();
        if (p.waitFor() != 0) {
            throw new IOException("failed: " + script);
        }
    }

}
