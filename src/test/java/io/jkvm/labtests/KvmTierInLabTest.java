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
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The direct-KVM tier on a host without usable KVM (no /dev/kvm, no permission, or the device
 * setting pointing elsewhere): the whole tier runs inside one lab machine, whose nested KVM is
 * hardware-style, and every test of it is reported here as a test of its own ("[lab] Class.method"),
 * so the summary shows the tier ran. On a host with usable KVM the tier runs directly and this
 * is skipped, saying so.
 */
@Tag("lab")
@Tag("kvm")
class KvmTierInLabTest {
    /**
     * The lab's hang detector: the tier prints a line per test, tests print as they go, and the
     * tier's stall watch prints a heartbeat every minute of silence, so this much silence means
     * the lab machine itself stopped (a wedged L1), not a quiet test.
     */
    private static final Duration NO_PROGRESS = Duration.ofMinutes(5);
    /** The backstop for the whole run, over every lab machine (the tier takes ~15 min in the lab). */
    private static final Duration WHOLE_RUN = Duration.ofMinutes(80);
    /**
     * Lab machines per run. The emulated lab machine now and then dies under the tier (a JVM
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
    Stream<DynamicTest> theDirectKvmTierRunsInsideTheLab() throws IOException {
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

    private static List<DynamicTest> runTier() throws IOException {
        Path home = Path.of(System.getProperty("jkvm.home", ".")).toAbsolutePath();
        Path target = Files.createDirectories(home.resolve("target"));
        TierRecords records = new TierRecords();
        List<String> machines = new ArrayList<>();
        Set<String> inFlight = Set.of();
        Map<String, Integer> deaths = new HashMap<>();
        List<String> abandoned = new ArrayList<>();
        LabResult r = null;
        String output = "";
        long t0 = System.nanoTime();
        double hostJvmStart = TierLauncher.jvmStartMillis();
        for (int machine = 1; machine <= MACHINES; machine++) {
            Path results = Files.createTempFile(target, "kvm-tier-", ".jsonl");
            Path skip = Files.createTempFile(target, "kvm-tier-skip-", ".txt");
            Files.write(skip, records.done());
            ByteArrayOutputStream captured = new ByteArrayOutputStream();
            OutputStream tee = new Tee(captured);
            Duration left = WHOLE_RUN.minusNanos(System.nanoTime() - t0);
            r = Lab.run(command(home, results, skip, hostJvmStart), LabOptions.defaults()
                    .withTimeout(left.compareTo(Duration.ofMinutes(10)) < 0 ? Duration.ofMinutes(10) : left)
                    .withIdleTimeout(NO_PROGRESS).withMachine(6144, 2), java.io.InputStream.nullInputStream(), tee, tee);
            output = captured.toString(StandardCharsets.UTF_8);
            int before = records.size();
            inFlight = records.machine(Files.readAllLines(results));
            Files.deleteIfExists(results);
            Files.deleteIfExists(skip);
            boolean completed = !r.labFailed() && r.exitCode() == 0;
            if (!completed) {
                records.machineDied();
            }
            machines.add(String.format("lab machine %d: %d tests, %s", machine, records.size() - before,
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
            System.out.println("KvmTierInLabTest: " + machines.getLast() + "; the rest of the tier runs in a new lab machine");
        }
        List<JsonNode> finished = records.finished();
        List<String> retried = records.retried();
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode t : finished) {
            boolean flake = t.has("first_failure") && "PASSED".equals(t.path("status").asText());
            tests.add(DynamicTest.dynamicTest("[lab] " + t.path("name").asText() + (flake ? " (passed on retry)" : ""),
                    () -> report(t)));
        }
        for (String m : abandoned) {
            tests.add(DynamicTest.dynamicTest("[lab] " + m, () -> {
                throw new AssertionFailedError(m + " was running when two lab machines died: " + String.join("; ", machines));
            }));
        }
        for (String m : inFlight) {
            tests.add(DynamicTest.dynamicTest("[lab] " + m, () -> {
                throw new AssertionFailedError(m + " was running when the last lab machine died: " + String.join("; ", machines));
            }));
        }
        io.jkvm.testing.TierSummary.say(String.format("direct-KVM: ran inside the lab: %d tests reported (%s)%s",
                finished.size(), String.join("; ", machines),
                retried.isEmpty() ? "" : "; passed on retry after failing once: " + String.join(", ", retried)));
        for (JsonNode t : finished) {
            if (t.has("first_failure") && "PASSED".equals(t.path("status").asText())) {
                System.out.println("KvmTierInLabTest: " + t.path("name").asText() + " passed on retry; its first try failed: "
                        + t.path("first_failure").asText());
            }
        }
        LabResult last = r;
        String lastOutput = output;
        tests.add(DynamicTest.dynamicTest("[lab] the tier completed", () -> {
            assertThat(last.labFailed()).as("%s\n%s\n--- output ---\n%s\n--- L1 console ---\n%s",
                    String.join("\n", machines), last.error(), lastOutput, last.console()).isFalse();
            assertThat(last.exitCode()).as("%s\n%s", String.join("\n", machines), lastOutput).isZero();
            assertThat(tests.size()).as("tests reported by the tier").isGreaterThan(1);
        }));
        return List.copyOf(tests);
    }

    /**
     * The tier's processes (its JVM, and every VMM, daemon and CLI JVM it starts, which inherit
     * the affinity) run on one CPU of the lab machine: {@value #PIN_PROPERTY}, "0" unless set,
     * empty for none. JVMs there died again and again (four in two runs) of SIGSEGV at the entry
     * of a C1-compiled method just made not entrant: HotSpot patches a jump over the entry while
     * other threads run it, and QEMU's multi-threaded TCG, with the patching and the executing
     * thread on different emulated CPUs, ran a torn mix (a #GP at a well-formed jmp). On one CPU
     * the patch and every later execution are in order. The cost is the tier's parallelism.
     */
    static final String PIN_PROPERTY = "jkvm.tier.cpus";

    private static String pin() {
        String cpus = System.getProperty(PIN_PROPERTY, "0");
        if (cpus.isBlank()) {
            return "";
        }
        if (!cpus.matches("[0-9,-]{1,32}")) {
            throw new IllegalArgumentException(PIN_PROPERTY + ": a CPU list such as 0 or 0-1, not '" + cpus + "'");
        }
        return "taskset -c " + cpus + " ";
    }

    private static List<String> command(Path home, Path results, Path skip, double hostJvmStart) {
        return new ArrayList<>(List.of("sh", "-c",
                // Unix sockets cannot live on the lab's 9p-shared /tmp: temporary files go to L1's tmpfs.
                "T=$(mktemp -d /dev/shm/kvm-tier.XXXXXX) && exec " + pin() + "\"$@\" -Djava.io.tmpdir=$T " + TierLauncher.class.getName()
                        + " kvm " + results, "tier",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Xss2m", "-Djkvm.home=" + home,
                // The tier scales its hang detectors by how much slower the lab is (Patience).
                "-D" + TierLauncher.HOST_JVM_START + "=" + Math.round(hostJvmStart),
                // -Djkvm.tier.classes=REGEX runs only those classes of the tier (looking into one failure).
                "-D" + TierLauncher.CLASSES + "=" + System.getProperty(TierLauncher.CLASSES, TierLauncher.ALL_CLASSES),
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

    /** Copies the lab's output to this test's stdout (progress in the build log) and keeps it. */
    private static final class Tee extends OutputStream {
        private final ByteArrayOutputStream keep;

        Tee(ByteArrayOutputStream keep) {
            this.keep = keep;
        }

        @Override
        public synchronized void write(int b) {
            keep.write(b);
            System.out.write(b);
        }

        @Override
        public synchronized void write(byte[] b, int off, int len) {
            keep.write(b, off, len);
            System.out.write(b, off, len);
            System.out.flush();
        }
    }
}
