package io.jkvm.bench;

import io.jkvm.image.JkvmHome;
import io.jkvm.snapshot.SnapshotKey;
import io.jkvm.snapshot.Snapshots;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Snapshot restore, directly on this host: a 1-vCPU guest of 128 MiB, and one of 2 GiB, that
 * touched every page of its RAM and then keeps printing 'x' on the debug console
 * ({@link BenchGuest.Kind#SPIN}) is saved once by each VMM (jkvm: {@link Snapshots#save},
 * HMAC-authenticated; QEMU: HMP {@code migrate "exec:cat > FILE"}). Each sample then starts a
 * fresh VMM process that restores it (jkvm: {@code jkvm bench guest --restore}, which fills RAM
 * lazily, checking each chunk against the snapshot's MAC table on first touch; QEMU:
 * {@code -incoming "exec:cat FILE"}) and times process start to the restored guest's first
 * byte: the guest is running again. Two sizes show whether restore grows with the guest.
 */
public final class RestoreMetric implements Metric {
    static final long RAM = MemoryOverheadMetric.RAM;
    static final long BIG_RAM = 2L << 30;
    private static final long TIMEOUT_S = 120;

    @Override
    public boolean direct() {
        return true;
    }

    @Override
    public String id() {
        return "restore";
    }

    @Override
    public String unavailable(BenchContext ctx) {
        return QemuGuest.sideBySideUnavailable();
    }

    @Override
    public List<MetricResult> run(BenchContext ctx) throws Exception {
        Path keyFile = Files.createFile(ctx.workDir().resolve("restore.key"),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        byte[] key = new byte[32];
        new SecureRandom().nextBytes(key);
        Files.write(keyFile, key);
        return List.of(row(ctx, "restore_vs_qemu", RAM, "128 MiB", keyFile, key),
                row(ctx, "restore_2g_vs_qemu", BIG_RAM, "2 GiB", keyFile, key));
    }

    private MetricResult row(BenchContext ctx, String id, long ram, String size, Path keyFile, byte[] key)
            throws Exception {
        Path dir = Files.createDirectory(ctx.workDir().resolve("restore-" + ram));
        Path image = BenchGuest.build(dir, "spin", BenchGuest.Kind.SPIN, 0, ram);
        Path state = dir.resolve("restore.state");
        Path mem = dir.resolve("restore.mem");
        saveJkvm(image, ram, SnapshotKey.of(key), state, mem);
        Path qemuFile = dir.resolve("restore.qemu");
        saveQemu(image, ram, dir.resolve("qemu-monitor.sock"), qemuFile);
        ctx.say("restore: saved %s guests: jkvm %d + %d bytes, QEMU %d bytes",
                size, Files.size(state), Files.size(mem), Files.size(qemuFile));
        List<String> jkvm = List.of(JkvmHome.get().resolve("bin/jkvm").toString(), "bench", "guest",
                "--restore", state.toString(), "--restore-memory", mem.toString(), "--key", keyFile.toString());
        List<String> qemu = new ArrayList<>(QemuGuest.command(image, ram, true));
        qemu.addAll(List.of("-incoming", "exec:cat " + qemuFile));
        List<Double> j = new ArrayList<>();
        List<Double> q = new ArrayList<>();
        for (int i = 0; i < ctx.samples(); i++) {
            j.add(timeToFirstByte(jkvm));
            q.add(timeToFirstByte(qemu));
            ctx.say("restore %s sample %d/%d: jkvm %.0f ms, qemu %.0f ms", size, i + 1, ctx.samples(), j.getLast(),
                    q.getLast());
        }
        // The files of the 2 GiB guest are 4 GiB together: gone before the next figure.
        for (Path p : List.of(state, mem, qemuFile, image)) {
            Files.deleteIfExists(p);
        }
        return new MetricResult(id, "snapshot restore, " + size + ": process start to guest running", "ms",
                Stats.of(j), Stats.of(q), "qemu",
                "directly on this host: 1 vCPU, " + size + ", every page touched; jkvm fills RAM on first touch,"
                        + " each 1 MiB chunk checked against the snapshot's MAC table, QEMU reads the whole stream first");
    }

    /** Runs the guest in this JVM until it has touched its RAM, pauses and saves it. */
    static void saveJkvm(Path image, long ram, SnapshotKey key, Path state, Path mem) throws Exception {
        try (JkvmGuest g = JkvmGuest.startTouched(image, ram, TIMEOUT_S)) {
            g.machine().pause();
            Snapshots.save(g.machine(), List.of(), state, mem, key);
        }
    }

    /** Runs the guest under QEMU with an HMP monitor socket and migrates it into {@code file}. */
    static void saveQemu(Path image, long ram, Path monitor, Path file) throws Exception {
        Process p = QemuGuest.startTouched(image, ram, monitor);
        try (QemuMonitor hmp = QemuMonitor.connect(monitor)) {
            hmp.command("migrate \"exec:cat > " + file + "\"");
            hmp.awaitMigration(TIMEOUT_S);
            hmp.command("quit");
            p.waitFor(30, TimeUnit.SECONDS);
        } finally {
            p.destroyForcibly();
        }
    }

    static double timeToFirstByte(List<String> cmd) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().put("JKVM_NO_BUILD", "1");
        long t0 = System.nanoTime();
        Process p = pb.start();
        try {
            Tools.awaitByte(p.getInputStream(), 'x', p, cmd.getFirst());
            return (System.nanoTime() - t0) / 1e6;
        } finally {
            p.destroy();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }

}
