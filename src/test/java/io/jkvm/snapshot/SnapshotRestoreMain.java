package io.jkvm.snapshot;

import io.jkvm.device.legacy.Serial16550;
import io.jkvm.vmm.Machine;

import java.io.OutputStream;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/**
 * Restores a {@link CounterGuest} snapshot in a fresh process and checks it continues: arguments
 * are stateFile memFile keyFile expectedChecksum savedCounter. Prints one "RESULT ok ..." or
 * "RESULT fail ..." line; exit status 0 only when everything held.
 */
public final class SnapshotRestoreMain {
    private SnapshotRestoreMain() {}

    public static void main(String[] args) throws Exception {
        int status = 1;
        try {
            status = run(args);
        } catch (Throwable t) {
            System.out.println("RESULT fail " + t);
            t.printStackTrace(System.out);
        }
        System.out.flush();
        System.exit(status);
    }

    private static long micros(java.time.Duration d) {
        return d.toNanos() / 1000;
    }

    private static int run(String[] args) throws Exception {
        Path state = Path.of(args[0]), mem = Path.of(args[1]);
        SnapshotKey key = SnapshotKey.fromFile(Path.of(args[2]));
        String expectedSum = args[3];
        int saved = Integer.parseInt(args[4]);

        long t0 = System.nanoTime();
        Snapshots.Restored r = Snapshots.restore(state, mem, key);
        long restoreMicros = TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - t0);
        try (Machine m = r.machine()) {
            if (m.vcpus().getFirst().getCpuid().isEmpty()) {
                System.out.println("RESULT fail the saved CPUID was not restored");
                return 1;
            }
            String sum = CounterGuest.checksum(m.memory());
            if (!sum.equals(expectedSum)) {
                System.out.println("RESULT fail memory checksum " + sum + " != saved " + expectedSum);
                return 1;
            }
            Serial16550 uart = Serial16550.restore(m.irqLine(4), OutputStream.nullOutputStream(),
                    io.jkvm.vmm.DeviceStateFormat.CODECS.decode(r.device("serial0"), Serial16550.State.class));
            if (uart.save().scr() != 0x5a || uart.save().rxFifo().length != 2) {
                System.out.println("RESULT fail serial state " + uart.save());
                return 1;
            }
            CounterGuest.Progress progress = new CounterGuest.Progress();
            m.pio().register(CounterGuest.PORT, 4, progress);
            long t1 = System.nanoTime();
            m.start();
            if (!progress.awaitAtLeast(saved + 2, TimeUnit.SECONDS.toNanos(60))) {
                System.out.println("RESULT fail guest did not advance past " + progress.last.get() + " (saved " + saved + ")");
                return 1;
            }
            long firstPassMicros = TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - t1);
            m.pause();
            int counter = m.memory().readInt(CounterGuest.COUNTER);
            String problem = CounterGuest.patternProblem(m.memory(), counter);
            if (problem != null) {
                System.out.println("RESULT fail pattern after resume: " + problem);
                return 1;
            }
            if (progress.first.get() != saved + 1) {
                System.out.println("RESULT fail first report after restore was " + progress.first.get()
                        + ", expected " + (saved + 1) + " (registers not restored?)");
                return 1;
            }
            // The same restore again in this now warm JVM (class loading and JIT excluded).
            long t2 = System.nanoTime();
            Snapshots.Restored warm = Snapshots.restore(state, mem, key);
            long warmMicros = TimeUnit.NANOSECONDS.toMicros(System.nanoTime() - t2);
            warm.machine().close();
            System.out.println("RESULT ok restoreMicros(cold)=" + restoreMicros + " [verify " + micros(r.verify())
                    + ", create+map " + micros(r.createMachine()) + "] restoreMicros(warm)=" + warmMicros + " [verify "
                    + micros(warm.verify()) + ", create+map " + micros(warm.createMachine()) + "] firstReport="
                    + progress.first.get() + " counter=" + counter + " twoPassesMicros=" + firstPassMicros);
            return 0;
        }
    }
}
