package io.jkvm.labtests;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jkvm.lab.Lab;
import io.jkvm.lab.LabOptions;
import io.jkvm.lab.LabResult;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.TierLauncher;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.parallel.Execution;
import org.junit.jupiter.api.parallel.ExecutionMode;
import org.junit.jupiter.api.parallel.ResourceAccessMode;
import org.junit.jupiter.api.parallel.ResourceLock;
import org.junit.jupiter.api.parallel.Resources;
import org.opentest4j.AssertionFailedError;
import org.opentest4j.TestAbortedException;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The direct-KVM tier on a host without usable KVM (no /dev/kvm, no permission, or the device
 * setting pointing elsewhere): the tier runs inside the lab, whose nested KVM is hardware-style,
 * shared out between lab machines that run side by side (lanes, {@link TierLanes}; one per host
 * CPU), and every test of it is reported here as a test of its own ("[lab] Class.method"), so the
 * summary shows the tier ran. On a host with usable KVM the tier runs directly and this is
 * skipped, saying so. Its lanes keep every host core busy, so it holds the lab's cores alone
 * ({@link LabClass#CORES}): no lab class runs beside it. It reads the KVM device setting, which
 * one host-check test sets for a moment, hence the read lock on system properties.
 */
@Tag("lab")
@Tag("kvm")
@Execution(ExecutionMode.CONCURRENT)
@ResourceLock(LabClass.CORES)
@ResourceLock(value = Resources.SYSTEM_PROPERTIES, mode = ResourceAccessMode.READ)
class KvmTierInLabTest {
    /**
     * The lab's hang detector: the tier prints a line per test, tests print as they go, and the
     * tier's stall watch prints a heartbeat every minute of silence, so this much silence means
     * the lab machine itself stopped (a wedged L1), not a quiet test.
     */
    private static final Duration NO_PROGRESS = Duration.ofMinutes(5);
    /**
     * The backstop for a lane's run, over all its lab machines: a lane took ~28 min with two
     * lanes; a host with memory for one lane only runs the whole tier in it (~50 min).
     */
    private static final Duration WHOLE_RUN = Duration.ofMinutes(100);
    /**
     * Lab machines per lane. The emulated lab machine now and then dies under the tier (a JVM
     * crashing in JIT-patched code under QEMU's multi-threaded TCG, or L1's kernel in a soft
     * lockup); the next machine runs only the tests not yet finished, and the run says so. A test
     * that was running when two machines died is not run a third time: it fails, naming both.
     */
    private static final int MACHINES = 3;

    /**
     * The outcome of this JVM's run. Surefire reruns a failed dynamic test by its index in the
     * factory, which would start another whole tier and then check whichever test has that index
     * there; so a rerun gets this run's results again, in the same order, and a failure stays one.
     * Lab failures are retried inside the run instead ({@link #MACHINES}).
     */
    private static List<DynamicTest> outcome;

    @TestFactory
    Stream<DynamicTest> theDirectKvmTierRunsInsideTheLab() throws Exception {
        Optional<String> noKvm = KvmAvailable.unavailable();
        Assumptions.assumeTrue(noKvm.isPresent(), "this host has usable KVM: the direct-KVM tier ran here, directly");
        LabGuests.assumeLab();
        if (outcome != null) {
            System.out.println("KvmTierInLabTest: a rerun reports this JVM's tier run again (lab machines that"
                    + " died were already replaced within it)");
            return outcome.stream();
        }
        System.out.println("KvmTierInLabTest: " + noKvm.get() + ": running the direct-KVM tier inside the lab");
        outcome = runTier();
        return outcome.stream();
    }

    /** One lane's run: its tests' merged results and what became of each of its lab machines. */
    private record LaneOutcome(TierRecords records, List<String> machines, List<String> abandoned, Set<String> inFlight,
            LabResult last, String lastOutput) {}

    private static List<DynamicTest> runTier() throws Exception {
        Path home = Path.of(System.getProperty("jkvm.home", ".")).toAbsolutePath();
        Path target = Files.createDirectories(home.resolve("target"));
        double hostJvmStart = TierLauncher.jvmStartMillis();
        List<String> classes = TierLauncher.classes("kvm", System.getProperty(TierLauncher.CLASSES, TierLauncher.ALL_CLASSES));
        int lanes = TierLanes.count(System.getProperty(LANES_PROPERTY), Runtime.getRuntime().availableProcessors(),
                availableMib(), LANE_MIB);
        List<List<String>> plan = TierLanes.split(classes, lanes, TierLanes.LAB_SECONDS);
        System.out.printf("KvmTierInLabTest: %d test classes in %d lab machine(s) at once, one CPU each%n",
                classes.size(), plan.size());
        List<Thread> threads = new ArrayList<>();
        LaneOutcome[] outcomes = new LaneOutcome[plan.size()];
        Throwable[] errors = new Throwable[plan.size()];
        for (int i = 0; i < plan.size(); i++) {
            int lane = i;
            String label = plan.size() == 1 ? "" : "lane " + (lane + 1);
            System.out.println("KvmTierInLabTest: " + (label.isEmpty() ? "" : label + ": ") + "classes "
                    + plan.get(lane).stream().map(c -> c.substring(c.lastIndexOf('.') + 1)).toList());
            threads.add(Thread.ofPlatform().name("tier-lane-" + (lane + 1)).start(() -> {
                try {
                    outcomes[lane] = runLane(home, target, TierLanes.regex(plan.get(lane)), hostJvmStart, label);
                } catch (Throwable e) {
                    errors[lane] = e; // reported as the lane's failure; the other lanes' results stand
                }
            }));
        }
        for (Thread t : threads) {
            t.join();
        }
        List<DynamicTest> tests = new ArrayList<>();
        List<String> machines = new ArrayList<>();
        List<String> retried = new ArrayList<>();
        int reported = 0;
        for (int i = 0; i < outcomes.length; i++) {
            if (errors[i] != null) {
                Throwable e = errors[i];
                String lane = "lane " + (i + 1);
                String classesOfLane = String.join(", ", plan.get(i));
                machines.add(lane + ": could not run: " + e);
                tests.add(DynamicTest.dynamicTest("[lab] " + lane, () -> {
                    throw new AssertionFailedError(lane + " could not run its classes (" + classesOfLane + "): " + e, e);
                }));
                continue;
            }
            LaneOutcome o = outcomes[i];
            machines.addAll(o.machines());
            retried.addAll(o.records().retried());
            for (JsonNode t : o.records().finished()) {
                boolean flake = t.has("first_failure") && "PASSED".equals(t.path("status").asText());
                tests.add(DynamicTest.dynamicTest("[lab] " + t.path("name").asText() + (flake ? " (passed on retry)" : ""),
                        () -> report(t)));
                reported++;
                if (flake) {
                    System.out.println("KvmTierInLabTest: " + t.path("name").asText() + " passed on retry; its first try failed: "
                            + t.path("first_failure").asText());
                }
            }
            for (String m : o.abandoned()) {
                tests.add(DynamicTest.dynamicTest("[lab] " + m, () -> {
                    throw new AssertionFailedError(m + " was running when two lab machines died: " + String.join("; ", o.machines()));
                }));
            }
            for (String m : o.inFlight()) {
                tests.add(DynamicTest.dynamicTest("[lab] " + m, () -> {
                    throw new AssertionFailedError(m + " was running when the last lab machine died: "
                            + String.join("; ", o.machines()));
                }));
            }
        }
        io.jkvm.testing.TierSummary.say(String.format("direct-KVM: ran inside the lab: %d tests reported (%s)%s",
                reported, String.join("; ", machines),
                retried.isEmpty() ? "" : "; passed on retry after failing once: " + String.join(", ", retried)));
        int total = tests.size();
        tests.add(DynamicTest.dynamicTest("[lab] the tier completed", () -> {
            for (LaneOutcome o : outcomes) {
                if (o == null) {
                    continue; // a lane that could not run fails as such, above
                }
                assertThat(o.last().labFailed()).as("%s\n%s\n--- output ---\n%s\n--- L1 console ---\n%s",
                        String.join("\n", o.machines()), o.last().error(), o.lastOutput(), o.last().console()).isFalse();
                assertThat(o.last().exitCode()).as("%s\n%s", String.join("\n", o.machines()), o.lastOutput()).isZero();
            }
            assertThat(total).as("tests reported by the tier").isPositive();
        }));
        return List.copyOf(tests);
    }

    /**
     * One lane: its classes in a lab machine, and in another when that one dies, up to {@link
     * #MACHINES}. Its output goes to this test's stdout a line at a time, each line marked with
     * {@code label} when lanes run side by side.
     */
    private static LaneOutcome runLane(Path home, Path target, String classes, double hostJvmStart, String label)
            throws IOException {
        TierRecords records = new TierRecords();
        List<String> machines = new ArrayList<>();
        Set<String> inFlight = Set.of();
        Map<String, Integer> deaths = new HashMap<>();
        List<String> abandoned = new ArrayList<>();
        LabResult r = null;
        String output = "";
        long t0 = System.nanoTime();
        String mark = label.isEmpty() ? "" : label + ", ";
        for (int machine = 1; machine <= MACHINES; machine++) {
            Path results = Files.createTempFile(target, "kvm-tier-", ".jsonl");
            Path skip = Files.createTempFile(target, "kvm-tier-skip-", ".txt");
            Files.write(skip, records.done());
            ByteArrayOutputStream captured = new ByteArrayOutputStream();
            long started = System.nanoTime();
            LinesOut out = new LinesOut(captured, mark, started);
            LinesOut err = new LinesOut(captured, mark, started);
            Duration left = WHOLE_RUN.minusNanos(System.nanoTime() - t0);
            r = Lab.run(command(home, results, skip, hostJvmStart, classes), LabOptions.defaults()
                    .withTimeout(left.compareTo(Duration.ofMinutes(10)) < 0 ? Duration.ofMinutes(10) : left)
                    .withIdleTimeout(NO_PROGRESS).withMachine(LANE_MIB, 1), java.io.InputStream.nullInputStream(), out, err);
            out.close();
            err.close();
            output = captured.toString(StandardCharsets.UTF_8);
            int before = records.size();
            inFlight = records.machine(Files.readAllLines(results));
            Files.deleteIfExists(results);
            Files.deleteIfExists(skip);
            boolean completed = !r.labFailed() && r.exitCode() == 0;
            if (!completed) {
                records.machineDied();
            }
            machines.add(String.format("%slab machine %d: %d tests, %s", mark, machine, records.size() - before,
                    completed ? "completed" : (r.labFailed() ? "FAILED: " + r.error() : "exit " + r.exitCode())
                            + (inFlight.isEmpty() ? "" : " while " + String.join(", ", inFlight) + " ran")));
            if (completed || machine == MACHINES || (records.size() == before && inFlight.isEmpty())) {
                break;
            }
            // The test in flight runs again in the next machine (a lab crash is seldom the test's
            // doing), unless it was in flight at an earlier death too.
            for (String m : inFlight) {
                if (deaths.merge(m, 1, Integer::sum) >= 2) {
                    abandoned.add(m);
                    records.giveUp(m);
                }
            }
            System.out.println("KvmTierInLabTest: " + machines.getLast() + "; the rest of the lane runs in a new lab machine");
        }
        return new LaneOutcome(records, machines, abandoned, inFlight, r, output);
    }

    /** -Djkvm.tier.lanes=N: lab machines at once (default: one per host CPU, as memory allows, at most 4). */
    static final String LANES_PROPERTY = "jkvm.tier.lanes";
    /**
     * Each lane's lab machine: enough for the daemon tests' five VMs and their JVMs. It has one
     * CPU, and that is also what keeps its JVMs alive: with two, JVMs there died again and again
     * (four in two runs) of SIGSEGV at the entry of a C1-compiled method just made not entrant.
     * HotSpot patches a jump over the entry while other threads run it, and QEMU's multi-threaded
     * TCG, with the patching and the executing thread on different emulated CPUs, ran a torn mix
     * (a #GP at a well-formed jmp). On one CPU the patch and every later execution are in order;
     * the lanes side by side win back the parallelism.
     */
    private static final int LANE_MIB = 6144;

    /** MemAvailable from /proc/meminfo, in MiB (a lane is not started where it would not fit). */
    private static long availableMib() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
            if (line.startsWith("MemAvailable:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
            }
        }
        return LANE_MIB;
    }

    private static List<String> command(Path home, Path results, Path skip, double hostJvmStart, String classes) {
        return new ArrayList<>(List.of("sh", "-c",
                // Unix sockets cannot live on the lab's 9p-shared /tmp: temporary files go to L1's tmpfs.
                "T=$(mktemp -d /dev/shm/kvm-tier.XXXXXX) && exec \"$@\" -Djava.io.tmpdir=$T " + TierLauncher.class.getName()
                        + " kvm " + results, "tier",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                // No hsperfdata: it would be a file in /tmp, which every lab machine shares with
                // the host (9p), where the lanes' JVMs, with the same pids, would collide.
                "--enable-native-access=ALL-UNNAMED", "-Xss2m", "-XX:-UsePerfData", "-Djkvm.home=" + home,
                // The tier scales its hang detectors by how much slower the lab is (Patience).
                "-D" + TierLauncher.HOST_JVM_START + "=" + Math.round(hostJvmStart),
                // This lane's classes (-Djkvm.tier.classes=REGEX on the host narrows the whole tier).
                "-D" + TierLauncher.CLASSES + "=" + classes,
                // -Djkvm.tier.childCds=false: children without the shared archive (to measure what it saves).
                "-D" + TierLauncher.CHILD_CDS + "=" + System.getProperty(TierLauncher.CHILD_CDS, "true"),
                "-D" + TierLauncher.SKIP_FILE + "=" + skip,
                "-cp", System.getProperty("java.class.path")));
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private static void report(JsonNode t) {
        String status = t.path("status").asText();
        switch (status) {
            case "PASSED" -> { }
            case "SKIPPED", "ABORTED" -> throw new TestAbortedException("skipped in the lab: " + t.path("message").asText());
            default -> throw new AssertionFailedError(t.path("name").asText() + " failed in the lab ("
                    + t.path("seconds").asDouble() + " s): "
                    + t.path("message").asText() + "\n" + t.path("trace").asText());
        }
    }

    /**
     * Copies a lane's stdout or stderr to this test's stdout (progress in the build log) and to
     * {@code keep}, a whole line at a time, each marked with the seconds since its lab machine
     * started (and the lane, when lanes run side by side).
     */
    private static final class LinesOut extends OutputStream {
        private final ByteArrayOutputStream keep;
        private final String lane;
        private final long t0;
        private final ByteArrayOutputStream line = new ByteArrayOutputStream();

        LinesOut(ByteArrayOutputStream keep, String lane, long t0) {
            this.keep = keep;
            this.lane = lane;
            this.t0 = t0;
        }

        @Override
        public synchronized void write(int b) {
            line.write(b);
            if (b == '\n' || line.size() >= 64 * 1024) {
                emit();
            }
        }

        @Override
        public synchronized void write(byte[] b, int off, int len) {
            for (int i = off; i < off + len; i++) {
                write(b[i]);
            }
        }

        /** Whole lines only: the lab flushes after every write, which would cut lines apart. */
        @Override
        public void flush() {}

        /** Passes on what is left of the last line (the lab machine has ended). */
        @Override
        public synchronized void close() {
            emit();
        }

        private void emit() {
            if (line.size() == 0) {
                return;
            }
            byte[] text = line.toByteArray();
            line.reset();
            byte[] prefix = String.format("[%s%ds] ", lane, (System.nanoTime() - t0) / 1_000_000_000L)
                    .getBytes(StandardCharsets.UTF_8);
            byte[] marked = new byte[prefix.length + text.length];
            System.arraycopy(prefix, 0, marked, 0, prefix.length);
            System.arraycopy(text, 0, marked, prefix.length, text.length);
            keep.write(text, 0, text.length); // ByteArrayOutputStream's writes are synchronized
            System.out.write(marked, 0, marked.length); // one write: a line is never split by another's
            System.out.flush();
        }
    }
}
