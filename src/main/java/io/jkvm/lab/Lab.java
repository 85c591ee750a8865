package io.jkvm.lab;

import io.jkvm.image.DefaultImage;
import io.jkvm.image.JkvmHome;
import io.jkvm.image.KernelVersion;
import io.jkvm.image.Vmlinux;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * Runs a command inside "the lab": an emulated AMD-V machine (QEMU TCG, {@code -cpu EPYC,+svm})
 * booting the host's Debian kernel (L1) with {@code kvm_amd} loaded, so {@code /dev/kvm} there is
 * ordinary nested KVM, unlike this host's PVM-backed one. In L1 the command runs chrooted into the
 * host's root (shared read-only over virtio-9p) with {@code /tmp}, the project directory, the
 * working directory and any extra shares writable at the same paths, fresh /proc, /sys, /dev
 * (so /dev/kvm and /dev/net/tun exist), /dev/pts and /dev/shm, and no network but loopback.
 *
 * <p>Two ways to carry the command's stdio: pipe mode (default; binary-clean virtio-serial ports,
 * end of input is delivered as end-of-file, stdout and stderr stay apart) and tty mode (the serial
 * console is the command's terminal, for interactive use; output arrives with terminal line endings).
 *
 * <p>Exit status: the command's, or {@link #EXIT_TIMEOUT} when the run hit its timeout, or
 * {@link #EXIT_LAB_FAILURE} when the lab itself failed (missing packages, no /dev/kvm in L1,
 * boot failure); {@link LabResult#error()} says which.
 */
public final class Lab {
    /** The run exceeded {@link LabOptions#timeout()} and QEMU was killed (as timeout(1)). */
    public static final int EXIT_TIMEOUT = 124;
    /** The lab could not run the command at all. */
    public static final int EXIT_LAB_FAILURE = 125;

    private Lab() {}

    /** Why the lab cannot run on this host, or empty if it can. Tests use it to skip visibly. */
    public static Optional<String> availability() {
        if ("0".equals(System.getenv("JKVM_LAB"))) {
            return Optional.of("the lab is disabled (JKVM_LAB=0)");
        }
        List<String> missing = HostSetup.missingPackages();
        if (!missing.isEmpty()) {
            return Optional.of("the lab needs Debian packages: " + String.join(" ", missing)
                    + " (bin/setup-host installs them as root)");
        }
        if (!Files.isDirectory(Path.of("/tmp")) || !Files.isWritable(Path.of("/tmp"))) {
            return Optional.of("the lab needs a writable /tmp");
        }
        return Optional.empty();
    }

    /** Runs {@code command} with empty input, capturing its output. */
    public static LabResult exec(List<String> command, LabOptions opts) throws IOException {
        return exec(command, opts, new byte[0]);
    }

    /** Runs {@code command} with {@code stdin} as its input, capturing its output (pipe mode). */
    public static LabResult exec(List<String> command, LabOptions opts, byte[] stdin) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        LabResult r = run(command, opts.withTty(false), new ByteArrayInputStream(stdin), out, err);
        return new LabResult(r.exitCode(), out.toString(StandardCharsets.UTF_8),
                err.toString(StandardCharsets.UTF_8), r.error(), r.console(), r.boot(), r.total());
    }

    /**
     * Runs {@code command}, streaming. In pipe mode {@code in} feeds its stdin and {@code out}/{@code err}
     * get its output; in tty mode this process's terminal is put in raw mode, {@code in} (the
     * terminal) feeds the console once the command runs, {@code out} gets the console from the
     * command's start on and {@code err} is unused.
     * The returned result has empty stdout/stderr.
     */
    public static LabResult run(List<String> command, LabOptions opts, InputStream in, OutputStream out,
            OutputStream err) throws IOException {
        Optional<String> unavailable = availability();
        if (unavailable.isPresent()) {
            return failure(unavailable.get(), "", null, Duration.ZERO);
        }
        MachineImages images = images(opts);
        try (LabJob job = LabJob.create()) {
            List<LabJob.Share> shares = shares(opts);
            job.write(command, opts, shares, opts.tty() ? terminalSize() : Optional.empty());
            return new Session(job, opts).run(L1CommandLine.build(images.boot(), images.initrd(), opts, job, shares),
                    in, out, err);
        }
    }

    /** What a lab machine boots: its kernel and its initramfs (the L1 image). */
    private record MachineImages(Path boot, Path initrd) {}

    /**
     * Builds the lab machine's images when they are missing or stale. One caller at a time: lab
     * machines started together (the direct-KVM tier's lanes) would otherwise each build them.
     */
    private static synchronized MachineImages images(LabOptions opts) throws IOException {
        Path kernel = opts.kernel() != null ? opts.kernel() : DefaultImage.defaultKernel().orElseThrow();
        String release = KernelVersion.of(kernel);
        Path initrd = L1Image.ensure(release);
        // The uncompressed PVH-bootable kernel saves ~2 s of emulated decompression per boot.
        Path boot = Vmlinux.ensure(kernel, JkvmHome.buildDir().resolve("lab").resolve("vmlinux-" + release))
                .orElse(kernel);
        return new MachineImages(boot, initrd);
    }

    /** The project directory, the working directory and extra shares, minus what is already writable. */
    static List<LabJob.Share> shares(LabOptions opts) throws IOException {
        List<Path> wanted = new ArrayList<>();
        wanted.add(JkvmHome.get());
        wanted.add(opts.workDir());
        wanted.addAll(opts.shares());
        List<Path> chosen = new ArrayList<>();
        for (Path p : wanted) {
            Path real = p.toAbsolutePath().normalize();
            if (!Files.isDirectory(real)) {
                throw new IOException("cannot share " + real + " with the lab: not a directory");
            }
            real = real.toRealPath();
            if (real.getNameCount() == 0) {
                throw new IOException("cannot share / writable with the lab");
            }
            Path r = real;
            if (r.startsWith("/tmp") || chosen.stream().anyMatch(r::startsWith)) {
                continue;
            }
            chosen.removeIf(c -> c.startsWith(r));
            chosen.add(r);
        }
        List<LabJob.Share> shares = new ArrayList<>();
        for (int i = 0; i < chosen.size(); i++) {
            shares.add(new LabJob.Share("p" + i, chosen.get(i)));
        }
        return shares;
    }

    /** Rows and columns of this process's terminal (so full-screen programs in L1 fit), if known. */
    private static Optional<int[]> terminalSize() {
        try {
            Process p = new ProcessBuilder("stty", "size")
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/tty")))
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            String s = new String(p.getInputStream().readAllBytes(), StandardCharsets.US_ASCII).strip();
            if (p.waitFor() == 0 && s.matches("\\d+ \\d+")) {
                String[] rc = s.split(" ");
                return Optional.of(new int[] {Integer.parseInt(rc[0]), Integer.parseInt(rc[1])});
            }
        } catch (IOException e) {
            // no terminal size: L1 keeps its default of 80x24
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return Optional.empty();
    }

    static LabResult failure(String error, String console, Duration boot, Duration total) {
        return new LabResult(EXIT_LAB_FAILURE, "", "", error, console, boot, total);
    }

    /** One QEMU process and the threads that serve its console and stdio sockets. */
    private static final class Session {
        private final LabJob job;
        private final LabOptions opts;
        private final List<Thread> pumps = new ArrayList<>();
        private final List<AutoCloseable> closeables = new ArrayList<>();
        private final List<ServerSocketChannel> servers = new ArrayList<>();
        private final StringBuffer qemuErr = new StringBuffer();
        /** Size of QEMU's debug log when the command started: resets logged after it are crashes. */
        private final java.util.concurrent.atomic.AtomicLong debugLogAtStart = new java.util.concurrent.atomic.AtomicLong(-1);
        /** System.nanoTime() of the last byte from the command or L1's console (the idle watchdog's input). */
        private final java.util.concurrent.atomic.AtomicLong lastOutput = new java.util.concurrent.atomic.AtomicLong();
        /** L1's kernel reported a CPU stuck for long (a soft lockup): the lab machine itself is wedged. */
        private final java.util.concurrent.atomic.AtomicReference<String> l1Lockup = new java.util.concurrent.atomic.AtomicReference<>();

        Session(LabJob job, LabOptions opts) {
            this.job = job;
            this.opts = opts;
        }

        LabResult run(List<String> cmd, InputStream in, OutputStream out, OutputStream err) throws IOException {
            if (!opts.tty()) {
                // Listen before QEMU starts: its socket chardevs connect once, at startup.
                listen("stdin", ch -> {
                    in.transferTo(Channels.newOutputStream(ch));
                    // Half-close, not close: QEMU still reads what is buffered, then sees EOF and
                    // tells the guest port the host disconnected, which the command reads as end
                    // of file. A full close would make QEMU drop the unread input (hang-up).
                    ch.shutdownOutput();
                }, false);
                listen("stdout", ch -> copy(ch, out, lastOutput), true);
                listen("stderr", ch -> copy(ch, err, lastOutput), true);
            }
            ConsoleMonitor console = new ConsoleMonitor(opts.tty() ? out : null);
            // Our terminal (tty mode) goes raw here rather than in QEMU, and input is passed on
            // only once the command runs: keys typed during boot would otherwise reach the UART
            // while the guest driver resets its FIFO, and be lost.
            RawTerminal terminal = opts.tty() ? RawTerminal.enter() : null;
            long t0 = System.nanoTime();
            Process qemu = new ProcessBuilder(cmd).start();
            Thread killer = new Thread(() -> {
                qemu.destroyForcibly();
                if (terminal != null) {
                    terminal.restore();
                }
            });
            Runtime.getRuntime().addShutdownHook(killer);
            try {
                if (opts.tty()) {
                    pump("tty-input", () -> {
                        try {
                            if (!console.awaitStart()) {
                                return;
                            }
                        } catch (InterruptedException e) {
                            return;
                        }
                        OutputStream q = qemu.getOutputStream();
                        byte[] buf = new byte[4096];
                        for (int n; (n = in.read(buf)) > 0; ) {
                            q.write(buf, 0, n);
                            q.flush();
                        }
                    }, false);
                }
                pump("console", () -> {
                    byte[] buf = new byte[8192];
                    InputStream s = qemu.getInputStream();
                    for (int n; (n = s.read(buf)) > 0; ) {
                        String stuck = L1Lockup.in(new String(buf, 0, n, StandardCharsets.ISO_8859_1));
                        if (stuck == null) {
                            lastOutput.set(System.nanoTime());
                        } else {
                            l1Lockup.compareAndSet(null, stuck);
                        }
                        console.feed(buf, 0, n);
                    }
                    console.finish();
                }, true);
                pump("debug-log-mark", () -> {
                    try {
                        if (console.awaitStart()) {
                            Path debug = job.dir().resolve(L1CommandLine.QEMU_LOG);
                            debugLogAtStart.set(Files.isRegularFile(debug) ? Files.size(debug) : 0);
                        }
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }, false);
                pump("qemu-stderr", () -> {
                    byte[] all = qemu.getErrorStream().readAllBytes();
                    qemuErr.append(new String(all, StandardCharsets.UTF_8));
                }, true);
                String stuck = watch(qemu, t0);
                boolean exited = stuck == null;
                if (!exited) {
                    stop(qemu);
                }
                long end = System.nanoTime();
                finishPumps();
                Duration total = Duration.ofNanos(end - t0);
                Duration boot = console.started() ? Duration.ofNanos(console.startNanos() - t0) : null;
                String log = console.log() + (qemuErr.isEmpty() ? "" : "\n[qemu] " + qemuErr);
                if (!exited) {
                    return new LabResult(EXIT_TIMEOUT, "", "", stuck + " (QEMU killed)", log, boot, total);
                }
                return outcome(job.status(), console, qemu.exitValue(), log + resetEvidence(), boot, total);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                qemu.destroy();  // the finally block below makes sure it is gone
                throw new IOException("interrupted while running the lab", e);
            } finally {
                if (qemu.isAlive()) {
                    qemu.destroyForcibly();
                }
                if (terminal != null) {
                    terminal.restore();
                }
                try {
                    Runtime.getRuntime().removeShutdownHook(killer);
                } catch (IllegalStateException e) {
                    // already shutting down: the hook kills QEMU
                }
                closeAll();
            }
        }

        /**
         * What QEMU logged (CPU resets, guest errors) after the command started: L1 does not reset
         * itself while a command runs, so a reset there means it crashed (a triple fault).
         */
        private String resetEvidence() {
            Path debug = job.dir().resolve(L1CommandLine.QEMU_LOG);
            long from = debugLogAtStart.get();
            try {
                if (from < 0 || !Files.isRegularFile(debug) || Files.size(debug) <= from) {
                    return "";
                }
                String text;
                try (java.io.InputStream in = Files.newInputStream(debug)) {
                    in.skip(Math.max(from, Files.size(debug) - 64 * 1024));
                    text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                }
                int last = text.lastIndexOf("CPU Reset");
                if (last < 0) {
                    return "\n[qemu debug log since the command started]\n" + text.substring(Math.max(0, text.length() - 4000));
                }
                return "\n[qemu debug log: L1 reset while the command ran (a crash); the CPU state at the last reset]\n"
                        + text.substring(Math.max(0, last - 2000), Math.min(text.length(), last + 4000));
            } catch (IOException e) {
                return "";
            }
        }

        private static LabResult outcome(Optional<String> status, ConsoleMonitor console, int qemuExit,
                String log, Duration boot, Duration total) {
            // The status file is authoritative; the console markers are the fallback.
            if (status.isPresent() && status.get().startsWith("exit ")) {
                try {
                    return new LabResult(Integer.parseInt(status.get().substring(5).strip()), "", "", null,
                            log, boot, total);
                } catch (NumberFormatException e) {
                    return failure("unreadable status from L1: " + status.get(), log, boot, total);
                }
            }
            if (status.isPresent() && status.get().startsWith("error ")) {
                return failure(status.get().substring(6), log, boot, total);
            }
            if (console.exitStatus().isPresent()) {
                return new LabResult(console.exitStatus().get(), "", "", null, log, boot, total);
            }
            if (console.error().isPresent()) {
                return failure(console.error().get(), log, boot, total);
            }
            return failure("L1 stopped before the command finished (qemu exit status " + qemuExit + ")",
                    log, boot, total);
        }

        /**
         * Waits for QEMU to exit; returns null when it did, or why it was given up on: the whole
         * run's timeout, or (with an idle timeout) no output from the command or L1's console for
         * that long. The idle limit measures progress, so a slower machine is not a stuck one.
         */
        private String watch(Process qemu, long t0) throws InterruptedException {
            lastOutput.set(t0);
            long deadline = t0 + opts.timeout().toNanos();
            Duration idle = opts.idleTimeout();
            while (true) {
                long now = System.nanoTime();
                long idleLeft = idle == null ? Long.MAX_VALUE : lastOutput.get() + idle.toNanos() - now;
                long left = Math.min(deadline - now, idleLeft);
                String stuck = l1Lockup.get();
                if (stuck != null) {
                    return "the lab machine's kernel is stuck (" + stuck + "): nested KVM inside the lab stopped"
                            + " making progress, which is the lab's failure, not the command's";
                }
                if (left <= 0) {
                    return deadline - now <= 0 ? "timed out after " + opts.timeout().toSeconds() + " s"
                            : "no output from the command or the lab machine for " + idle.toSeconds() + " s";
                }
                // Re-checked at least every second: output resets the idle limit while we wait.
                if (qemu.waitFor(Math.min(left, 1_000_000_000L), TimeUnit.NANOSECONDS)) {
                    return null;
                }
            }
        }

        /** SIGTERM first: QEMU then restores the terminal it put in raw mode. */
        private static void stop(Process qemu) throws InterruptedException {
            qemu.destroy();
            if (!qemu.waitFor(5, TimeUnit.SECONDS)) {
                qemu.destroyForcibly();
                qemu.waitFor(5, TimeUnit.SECONDS);
            }
        }

        private interface ChannelUser {
            void use(SocketChannel ch) throws IOException;
        }

        private interface Body {
            void run() throws IOException;
        }

        private void listen(String name, ChannelUser user, boolean awaitEnd) throws IOException {
            ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            server.bind(UnixDomainSocketAddress.of(job.socket(name)));
            servers.add(server);
            pump(name, () -> {
                SocketChannel ch = server.accept();
                synchronized (closeables) {
                    closeables.add(ch);
                }
                user.use(ch);
            }, awaitEnd);
        }

        private void pump(String name, Body body, boolean awaitEnd) {
            Thread t = Thread.ofPlatform().daemon().name("lab-" + name).start(() -> {
                try {
                    body.run();
                } catch (IOException e) {
                    // The other side went away (QEMU exited, or the command stopped reading).
                }
            });
            if (awaitEnd) {
                pumps.add(t);
            }
        }

        private static void copy(SocketChannel ch, OutputStream out, java.util.concurrent.atomic.AtomicLong lastOutput)
                throws IOException {
            InputStream s = Channels.newInputStream(ch);
            byte[] buf = new byte[65536];
            for (int n; (n = s.read(buf)) > 0; ) {
                lastOutput.set(System.nanoTime());
                out.write(buf, 0, n);
                out.flush();
            }
        }

        /** After QEMU's exit every output stream reaches its end; wait for the copies to drain. */
        private void finishPumps() throws InterruptedException {
            // A QEMU that died before connecting leaves accept() waiting: closing ends it.
            for (ServerSocketChannel s : servers) {
                try {
                    s.close();
                } catch (IOException e) {
                    // nothing to release then
                }
            }
            for (Thread t : pumps) {
                t.join(Duration.ofSeconds(10));
            }
        }

        private void closeAll() {
            synchronized (closeables) {
                for (AutoCloseable c : closeables) {
                    try {
                        c.close();
                    } catch (Exception e) {
                        // closing is best effort; the job directory is deleted next
                    }
                }
            }
        }
    }
}
