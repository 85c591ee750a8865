package io.jkvm.testing;

import io.jkvm.vmm.Machine;
import io.jkvm.vmm.diag.ReportText;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

/**
 * The tier's stall detector inside the lab. A test that prints nothing for {@link #REPORT_AFTER}
 * gets one report of where everything is: every Java thread's stack, every open {@link Machine}'s
 * vCPUs and interrupt controllers, and what Linux says each thread of this JVM and of its child
 * processes is doing (state and wait channel, e.g. in KVM_RUN or blocked on a socket). After the
 * report, and already from {@link #HEARTBEAT} of silence on, a line every {@link #HEARTBEAT} says
 * the tier is alive and still waiting, until the per-test timeout ends the test. So the lab's own
 * idle watchdog (a few heartbeats long) fires only when the lab machine itself has stopped, which
 * tells a wedged L1 from a quiet or stuck test, and a wedged L1 is found in minutes.
 *
 * <p>Silence is measured on this JVM's stdout and stderr, which tests print their progress to;
 * the watch writes to the original stream, so its own lines do not count as progress.
 */
final class TierStallWatch {
    static final Duration REPORT_AFTER = Duration.ofMinutes(8);
    /** Also the shortest silence that gets a heartbeat: KvmTierInLabTest's lab idle timeout is a few of these. */
    static final Duration HEARTBEAT = Duration.ofMinutes(1);
    private static final int MAX_FRAMES = 40;

    private final PrintStream out;
    private final AtomicLong lastOutput = new AtomicLong(System.nanoTime());
    private final AtomicReference<String> current = new AtomicReference<>("(between tests)");

    TierStallWatch(PrintStream out) {
        this.out = out;
    }

    /** Routes System.out and System.err through a progress counter and starts the watch thread. */
    static TierStallWatch install() {
        TierStallWatch w = new TierStallWatch(System.out);
        System.setOut(w.counting(System.out));
        System.setErr(w.counting(System.err));
        Thread t = Thread.ofPlatform().daemon().name("tier-stall-watch").unstarted(w::watch);
        t.start();
        return w;
    }

    /** A test started: silence counts from now. */
    void started(String test) {
        current.set(test);
        lastOutput.set(System.nanoTime());
    }

    private PrintStream counting(PrintStream target) {
        return new PrintStream(new OutputStream() {
            @Override
            public void write(int b) {
                lastOutput.set(System.nanoTime());
                target.write(b);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                lastOutput.set(System.nanoTime());
                target.write(b, off, len);
            }

            @Override
            public void flush() {
                target.flush();
            }
        }, true, StandardCharsets.UTF_8);
    }

    private void watch() {
        long reportedFor = -1;
        long lastBeat = 0;
        while (true) {
            try {
                Thread.sleep(Duration.ofSeconds(15));
            } catch (InterruptedException e) {
                return;
            }
            long since = lastOutput.get();
            long silent = System.nanoTime() - since;
            if (silent < REPORT_AFTER.toNanos()) {
                if (silent >= HEARTBEAT.toNanos() && System.nanoTime() - Math.max(lastBeat, since) >= HEARTBEAT.toNanos()) {
                    lastBeat = System.nanoTime();
                    out.printf("tier: alive, %s silent for %d s%n", current.get(), Duration.ofNanos(silent).toSeconds());
                }
                continue;
            }
            if (reportedFor != since) {
                reportedFor = since;
                lastBeat = System.nanoTime();
                report(Duration.ofNanos(silent));
            } else if (System.nanoTime() - lastBeat >= HEARTBEAT.toNanos()) {
                lastBeat = System.nanoTime();
                out.printf("tier: STILL %s silent for %d min (the lab machine is alive; the per-test timeout ends it)%n",
                        current.get(), Duration.ofNanos(silent).toMinutes());
            }
        }
    }

    void report(Duration silent) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format("tier: STALL %s printed nothing for %d min; where everything is:%n",
                current.get(), silent.toMinutes()));
        sb.append("--- load: ").append(read(Path.of("/proc/loadavg")).strip()).append('\n');
        for (Machine m : Machine.openMachines()) {
            sb.append("--- machine ").append(m).append('\n');
            try {
                sb.append(ReportText.render(m.report(Duration.ofSeconds(5))));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (RuntimeException e) {
                sb.append("report failed: ").append(e).append('\n');
            }
        }
        sb.append("--- Linux threads of this JVM:\n");
        tasks(ProcessHandle.current().pid(), sb);
        ProcessHandle.current().descendants().forEach(p -> {
            sb.append("--- child ").append(p.pid()).append(": ")
                    .append(abbreviate(read(Path.of("/proc", String.valueOf(p.pid()), "cmdline")).replace('\0', ' '), 300))
                    .append('\n');
            tasks(p.pid(), sb);
        });
        sb.append("--- Java threads of this JVM:\n");
        for (Map.Entry<Thread, StackTraceElement[]> e : Thread.getAllStackTraces().entrySet()) {
            Thread t = e.getKey();
            sb.append('"').append(t.getName()).append("\" ").append(t.getState()).append('\n');
            StackTraceElement[] frames = e.getValue();
            for (int i = 0; i < Math.min(frames.length, MAX_FRAMES); i++) {
                sb.append("    at ").append(frames[i]).append('\n');
            }
        }
        sb.append("tier: end of STALL report\n");
        out.print(sb);
        out.flush();
    }

    /** One line per thread of {@code pid}: its name, Linux state and the kernel function it waits in. */
    private static void tasks(long pid, StringBuilder sb) {
        Path dir = Path.of("/proc", String.valueOf(pid), "task");
        try (Stream<Path> tids = Files.list(dir)) {
            tids.sorted().forEach(tid -> {
                String stat = read(tid.resolve("stat"));
                int close = stat.lastIndexOf(')');
                String state = close > 0 && close + 2 < stat.length() ? stat.substring(close + 2, close + 3) : "?";
                sb.append(String.format("    %s %-18s %s wchan=%s%n", tid.getFileName(),
                        read(tid.resolve("comm")).strip(), state, read(tid.resolve("wchan")).strip()));
            });
        } catch (IOException e) {
            sb.append("    (").append(e.getMessage()).append(")\n");
        }
    }

    private static String read(Path p) {
        try {
            return Files.readString(p, StandardCharsets.ISO_8859_1);
        } catch (IOException e) {
            return "(" + e.getClass().getSimpleName() + ")";
        }
    }

    private static String abbreviate(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max) + "...";
    }
}
