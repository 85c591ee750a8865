package io.jkvm.bench;

import io.jkvm.migration.Convergence;
import io.jkvm.migration.IncomingMigration;
import io.jkvm.migration.MigrationAddress;
import io.jkvm.migration.MigrationReport;
import io.jkvm.migration.MigrationSource;
import io.jkvm.migration.MigrationTarget;
import io.jkvm.migration.MigrationTls;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.MachineConfig;
import io.jkvm.vmm.Machine;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.net.ssl.SSLServerSocket;

/**
 * Live migration over loopback, directly on this host: the 1-vCPU, 128 MiB guest of the restore
 * figure (every page touched, then printing on the debug console) migrates from one VMM to
 * another, and each VMM reports its own total time and downtime. jkvm: source and destination
 * machines in this JVM, over TLS 1.3 with mutual authentication (certificates made with openssl
 * at run time), the engine users get through {@code jkvm migrate}. QEMU: two processes,
 * {@code -incoming tcp:} and HMP {@code migrate} with no bandwidth cap, twice: over TLS with the
 * same certificates ({@code tls-creds-x509} objects with {@code verify-peer=on} on both ends:
 * the fair peer, since jkvm always encrypts) and over plain TCP (what QEMU does by default).
 * Both have a 300 ms downtime target.
 *
 * <p>With storage: the same guest with a {@link #DISK}-byte raw disk of random bytes that is not
 * on shared storage. jkvm copies it into the destination's own image in its stream
 * ({@code copy_drives}); QEMU uses its block migration ({@code migrate -b}, the disk on a
 * virtio-blk device on both sides, the destination's image empty). Total time, with each side's
 * disk throughput (MiB of disk over the total time) in the note.
 */
public final class MigrateMetric implements Metric {
    static final long RAM = MemoryOverheadMetric.RAM;
    private static final long TIMEOUT_S = 180;
    /** The disk of the storage row: big enough that copying it dominates the RAM's share. */
    static final long DISK = 64L << 20;
    private static final Pattern TOTAL = Pattern.compile("total time: (\\d+) ms");
    private static final Pattern DOWNTIME = Pattern.compile("downtime: (\\d+) ms");

    @Override
    public boolean direct() {
        return true;
    }

    @Override
    public String id() {
        return "migrate";
    }

    @Override
    public String unavailable(BenchContext ctx) {
        if (!Tools.onPath("openssl")) {
            return "openssl not installed (it makes the TLS certificates)";
        }
        return QemuGuest.sideBySideUnavailable();
    }

    /** One migration as its VMM reported it. */
    record Sample(double totalMs, double downtimeMs, String detail) {
        Sample(double totalMs, double downtimeMs) {
            this(totalMs, downtimeMs, "");
        }
    }

    @Override
    public List<MetricResult> run(BenchContext ctx) throws Exception {
        Path dir = ctx.workDir();
        Path image = BenchGuest.build(dir, "migrate", BenchGuest.Kind.SPIN, 0, RAM);
        Path pki = Files.createDirectories(dir.resolve("pki"));
        MigrationTls[] tls = pki(pki);
        List<Double> jTotal = new ArrayList<>();
        List<Double> jDown = new ArrayList<>();
        List<Double> qTotal = new ArrayList<>();
        List<Double> qDown = new ArrayList<>();
        List<Double> qtTotal = new ArrayList<>();
        List<Double> qtDown = new ArrayList<>();
        QemuTls qemuTls = QemuTls.of(pki);
        List<Double> jStorage = new ArrayList<>();
        List<Double> qStorage = new ArrayList<>();
        Path disk = randomDisk(dir.resolve("migrate-disk.raw"));
        for (int i = 0; i < ctx.samples(); i++) {
            Sample j = jkvm(image, tls[0], tls[1]);
            Sample qt = qemuRetried(ctx, image, dir, qemuTls);
            Sample q = qemuRetried(ctx, image, dir, null);
            jTotal.add(j.totalMs());
            jDown.add(j.downtimeMs());
            qtTotal.add(qt.totalMs());
            qtDown.add(qt.downtimeMs());
            qTotal.add(q.totalMs());
            qDown.add(q.downtimeMs());
            ctx.say("migrate sample %d/%d: jkvm total %.0f ms, downtime %.0f ms; qemu over TLS total %.0f ms,"
                    + " downtime %.0f ms; qemu plain total %.0f ms, downtime %.0f ms", i + 1, ctx.samples(),
                    j.totalMs(), j.downtimeMs(), qt.totalMs(), qt.downtimeMs(), q.totalMs(), q.downtimeMs());
            ctx.say("  jkvm: %s", j.detail());
            Sample js = jkvmWithDisk(image, tls[0], tls[1], disk, dir);
            Sample qs = qemuWithDisk(image, dir, disk);
            jStorage.add(js.totalMs());
            qStorage.add(qs.totalMs());
            ctx.say("migrate with a %d MiB disk, sample %d/%d: jkvm total %.0f ms; qemu (migrate -b) total %.0f ms",
                    DISK >> 20, i + 1, ctx.samples(), js.totalMs(), qs.totalMs());
            ctx.say("  jkvm: %s", js.detail());
        }
        Stats js = Stats.of(jStorage);
        Stats qs = Stats.of(qStorage);
        String storageNote = String.format(java.util.Locale.ROOT, "a %d MiB raw disk of random bytes copied with the guest"
                + " (jkvm copy_drives over TLS 1.3; QEMU migrate -b over plain TCP): disk throughput jkvm %.0f MiB/s,"
                + " QEMU %.0f MiB/s", DISK >> 20, (DISK >> 20) * 1000.0 / js.median(), (DISK >> 20) * 1000.0 / qs.median());
        String where = "directly on this host over loopback: 1 vCPU, 128 MiB, every page touched, no bandwidth cap; ";
        String tlsNote = where + "both over TLS with mutual authentication and the same certificates";
        String note = where + "jkvm over TLS 1.3, QEMU plain TCP (its default)";
        return List.of(
                new MetricResult("migrate_total_vs_qemu_tls", "live migration over TLS: total time", "ms",
                        Stats.of(jTotal), Stats.of(qtTotal), "qemu", tlsNote),
                new MetricResult("migrate_downtime_vs_qemu_tls", "live migration over TLS: downtime", "ms",
                        Stats.of(jDown), Stats.of(qtDown), "qemu", tlsNote),
                new MetricResult("migrate_total_vs_qemu", "live migration: total time", "ms", Stats.of(jTotal),
                        Stats.of(qTotal), "qemu", note),
                new MetricResult("migrate_downtime_vs_qemu", "live migration: downtime", "ms", Stats.of(jDown),
                        Stats.of(qDown), "qemu", note),
                new MetricResult("migrate_storage_total_vs_qemu", "live migration with a local disk: total time", "ms", js,
                        qs, "qemu", storageNote));
    }

    /** CA-signed certificates for both ends: {source, destination}. */
    static MigrationTls[] pki(Path dir) throws IOException {
        Files.writeString(dir.resolve("ext.cnf"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                + "extendedKeyUsage=serverAuth,clientAuth\nbasicConstraints=CA:FALSE\n");
        openssl(dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "ca.key");
        openssl(dir, "req", "-x509", "-new", "-key", "ca.key", "-out", "ca.pem", "-days", "1", "-subj",
                "/CN=jkvm bench CA", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign");
        for (String n : List.of("source", "dest")) {
            openssl(dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", n + ".key");
            openssl(dir, "req", "-new", "-key", n + ".key", "-out", n + ".csr", "-subj", "/CN=" + n);
            openssl(dir, "x509", "-req", "-in", n + ".csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                    "-out", n + ".pem", "-days", "1", "-extfile", "ext.cnf");
        }
        return new MigrationTls[] {
                new MigrationTls(dir.resolve("source.pem"), dir.resolve("source.key"), dir.resolve("ca.pem")),
                new MigrationTls(dir.resolve("dest.pem"), dir.resolve("dest.key"), dir.resolve("ca.pem"))};
    }

    private static void openssl(Path dir, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("openssl"));
        cmd.addAll(List.of(args));
        Tools.run(dir, cmd, 60);
    }

    /** The destination: a fresh machine of the source's shape with the bench devices. */
    private static final class Target implements MigrationTarget {
        private final JkvmGuest guest;

        /** The bench guest has no devices to describe: {@code shape} is null. */
        Target(MachineConfig c, io.jkvm.migration.VmShape shape) {
            guest = JkvmGuest.attachTo(Machine.create(c.toOptions()), OutputStream.nullOutputStream());
        }

        public Machine machine() {
            return guest.machine();
        }

        public void restoreDevices(List<DeviceState> devices) {
            // the bench devices keep no state
        }

        public void start() {
            guest.machine().start();
        }

        public void close() {
            guest.close();
        }
    }

    /** A raw image of {@link #DISK} random bytes (a disk whose every block must travel). */
    static Path randomDisk(Path file) throws IOException {
        java.util.Random r = new java.util.Random(42);
        byte[] block = new byte[1 << 20];
        try (OutputStream out = Files.newOutputStream(file)) {
            for (long done = 0; done < DISK; done += block.length) {
                r.nextBytes(block);
                out.write(block);
            }
        }
        return file;
    }

    /** An empty raw image of {@link #DISK} bytes: the destination's own disk. */
    private static Path emptyDisk(Path file) throws IOException {
        Files.deleteIfExists(file);
        try (java.io.RandomAccessFile f = new java.io.RandomAccessFile(file.toFile(), "rw")) {
            f.setLength(DISK);
        }
        return file;
    }

    private static final io.jkvm.migration.VmShape DISK_SHAPE = new io.jkvm.migration.VmShape(
            List.of(new io.jkvm.migration.VmShape.Disk("bench", false, DISK)), List.of(), false, false);

    /** The bench machine with {@code disk}, copied by the migration (nothing writes it meanwhile). */
    private static MigrationSource withDisk(Machine m, io.jkvm.storage.DiskImage disk) {
        MigrationSource plain = MigrationSource.of(m, List::of);
        return new MigrationSource() {
            public Machine machine() {
                return m;
            }

            public void pause() throws InterruptedException {
                plain.pause();
            }

            public void resume() {
                plain.resume();
            }

            public List<DeviceState> deviceStates() {
                return List.of();
            }

            public void migratedAway() {
                plain.migratedAway();
            }

            @Override
            public io.jkvm.migration.VmShape shape() {
                return DISK_SHAPE;
            }

            @Override
            public List<io.jkvm.storage.LoggedDisk> startCopying(List<String> ids) {
                return List.of(new io.jkvm.storage.LoggedDisk(0, "bench", disk,
                        new io.jkvm.storage.DirtyChunks(io.jkvm.storage.LoggedDisk.guestSize(disk))));
            }
        };
    }

    static Sample jkvm(Path image, MigrationTls source, MigrationTls dest) throws Exception {
        return jkvm(image, RAM, source, dest, null, null);
    }

    static Sample jkvmWithDisk(Path image, MigrationTls source, MigrationTls dest, Path disk, Path dir) throws Exception {
        Path received = emptyDisk(dir.resolve("migrate-disk-received.raw"));
        try {
            return jkvm(image, RAM, source, dest, disk, received);
        } finally {
            Files.deleteIfExists(received);
        }
    }

    /**
     * A guest built for {@code ramBytes} of RAM (the bench's {@link #RAM}; the AOT training's is
     * small); with {@code disk} (source) and {@code received} (destination): {@code copy_drives},
     * checked afterwards.
     */
    static Sample jkvm(Path image, long ramBytes, MigrationTls source, MigrationTls dest, Path disk, Path received)
            throws Exception {
        try (JkvmGuest g = JkvmGuest.startTouched(image, ramBytes, TIMEOUT_S);
             io.jkvm.storage.DiskImage sourceDisk = disk == null ? null : io.jkvm.storage.RawImage.open(disk, false);
             SSLServerSocket server = dest.listen(new MigrationAddress("127.0.0.1", 0))) {
            MigrationTarget.Factory factory = disk == null ? Target::new
                    : (c, shape) -> io.jkvm.migration.DiskReceivingTarget.into(new Target(c, null),
                            List.of(new io.jkvm.storage.DiskConfig(received, false, "bench")));
            CompletableFuture<IncomingMigration.Result> in = CompletableFuture.supplyAsync(() -> {
                try {
                    return IncomingMigration.receive(server, factory);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            var out = new io.jkvm.migration.OutgoingMigration(
                    disk == null ? MigrationSource.of(g.machine(), List::of) : withDisk(g.machine(), sourceDisk),
                    new MigrationAddress("127.0.0.1", server.getLocalPort()), source, new Convergence(300),
                    disk == null ? List.of() : List.of("bench"));
            out.run();
            MigrationReport r = out.status();
            try (MigrationTarget t = in.get(TIMEOUT_S, TimeUnit.SECONDS).target()) {
                if (r.status() != MigrationReport.Status.COMPLETED) {
                    throw new IOException("jkvm migration did not complete: " + r.summary());
                }
                t.machine().requestStop(io.jkvm.vmm.StopReason.STOPPED, "benchmark sample done");
            }
            if (disk != null && Files.mismatch(disk, received) != -1) {
                throw new IOException("jkvm migration with storage: the received disk differs from the source's");
            }
            return new Sample(r.totalMillis(), r.downtimeMillis(), r.summary());
        }
    }

    static Sample qemuWithDisk(Path image, Path dir, Path disk) throws Exception {
        Path received = emptyDisk(dir.resolve("migrate-disk-qemu.raw"));
        try {
            return qemu(image, dir, disk, received, null);
        } finally {
            Files.deleteIfExists(received);
        }
    }

    /**
     * {@link #qemu(Path, Path, QemuTls)}, taken once more after a failed sample, the failure said
     * on the console (a second failure fails the figure). Seen once: QEMU reporting a completed
     * migration of 0 ms.
     */
    private static Sample qemuRetried(BenchContext ctx, Path image, Path dir, QemuTls tls) throws Exception {
        try {
            return qemu(image, dir, tls);
        } catch (IOException e) {
            ctx.say("qemu sample failed, taken again: %s", e.getMessage());
            return qemu(image, dir, tls);
        }
    }

    /** Over TLS with {@code tls}'s credentials, or plain TCP when it is null. */
    static Sample qemu(Path image, Path dir, QemuTls tls) throws Exception {
        return qemu(image, dir, null, null, tls);
    }

    private static List<String> drive(Path disk) {
        return disk == null ? List.of() : List.of("-drive", "file=" + disk + ",format=raw,if=none,id=d0",
                "-device", "virtio-blk-pci,drive=d0");
    }

    /** With {@code disk} (source) and {@code received} (destination): block migration, {@code migrate -b}. */
    private static Sample qemu(Path image, Path dir, Path disk, Path received, QemuTls tls) throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        // The destination listens only once told to (-incoming defer + migrate_incoming, which
        // returns when the socket is bound): a source started right after a plain -incoming
        // can connect before a slow destination listens (seen in the lab: connection refused).
        Path destMonitor = dir.resolve("migrate-dest-monitor.sock");
        Files.deleteIfExists(destMonitor);
        List<String> destCmd = new ArrayList<>(QemuGuest.command(image, RAM, true));
        destCmd.addAll(List.of("-incoming", "defer", "-monitor", "unix:" + destMonitor + ",server=on,wait=off"));
        destCmd.addAll(drive(received));
        if (tls != null) {
            destCmd.addAll(tls.object(true));
        }
        Path monitor = dir.resolve("migrate-monitor.sock");
        Files.deleteIfExists(monitor);
        Process dest = quiet(destCmd);
        Process src = null;
        try (QemuMonitor destHmp = QemuMonitor.connectWhenUp(destMonitor, dest)) {
            if (tls != null) {
                QemuTls.use(destHmp);
            }
            destHmp.command("migrate_incoming tcp:127.0.0.1:" + port);
            List<String> extra = new ArrayList<>(drive(disk));
            if (tls != null) {
                extra.addAll(tls.object(false));
            }
            src = QemuGuest.startTouched(image, RAM, monitor, extra);
            try (QemuMonitor hmp = QemuMonitor.connect(monitor)) {
                if (tls != null) {
                    QemuTls.use(hmp);
                }
                hmp.command("migrate_set_parameter max-bandwidth 100G");
                hmp.command("migrate_set_parameter downtime-limit 300");
                String said = hmp.command("migrate -d " + (disk == null ? "" : "-b ") + "tcp:127.0.0.1:" + port);
                if (said.toLowerCase(java.util.Locale.ROOT).contains("error")) {
                    // Block migration (-b) left QEMU in 9.1: a newer QEMU has no peer for the storage row.
                    throw new IOException("QEMU refused the migration: " + said.strip());
                }
                String info = hmp.awaitMigration(TIMEOUT_S);
                hmp.command("quit");
                if (disk != null) {
                    dest.destroyForcibly();
                    dest.waitFor(10, TimeUnit.SECONDS);
                    if (Files.mismatch(disk, received) != -1) {
                        throw new IOException("QEMU block migration: the received disk differs from the source's");
                    }
                }
                double total = field(TOTAL, info);
                if (total <= 0) {
                    // Seen once in the lab (plain TCP, right after a TLS sample): a completed
                    // 128 MiB migration cannot take 0 ms; fail the sample with what QEMU said.
                    throw new IOException("QEMU reported a completed migration with a total time of 0 ms: " + info.strip());
                }
                return new Sample(total, field(DOWNTIME, info));
            }
        } finally {
            for (Process p : src == null ? List.of(dest) : List.of(src, dest)) {
                p.destroyForcibly();
                p.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    private static Process quiet(List<String> cmd) throws IOException {
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
    }

    static double field(Pattern p, String info) throws IOException {
        Matcher m = p.matcher(info);
        if (!m.find()) {
            throw new IOException("no '" + p.pattern() + "' in QEMU's info migrate: " + info.strip());
        }
        return Double.parseDouble(m.group(1));
    }
}
