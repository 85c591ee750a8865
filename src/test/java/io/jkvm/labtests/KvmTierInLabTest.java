package io.jkvm.labtests;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
import java.util.List;
import java.util.Optional;
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
    /** A hang detector: the tier prints a line per test, and tests print as they go. */
    private static final Duration NO_PROGRESS = Duration.ofMinutes(15);
    /** The backstop for the whole run (the tier took ~N min in the lab; see the README). */
    private static final Duration WHOLE_RUN = Duration.ofMinutes(80);

    @TestFactory
    Stream<DynamicTest> theDirectKvmTierRunsInsideTheLab() throws IOException {
        Optional<String> noKvm = KvmAvailable.unavailable();
        Assumptions.assumeTrue(noKvm.isPresent(), "this host has usable KVM: the direct-KVM tier ran here, directly");
        LabGuests.assumeLab();
        Path home = Path.of(System.getProperty("jkvm.home", ".")).toAbsolutePath();
        Path results = Files.createTempFile(Files.createDirectories(home.resolve("target")), "kvm-tier-", ".jsonl");
        System.out.println("KvmTierInLabTest: " + noKvm.get() + ": running the direct-KVM tier inside the lab");
        List<String> cmd = new ArrayList<>(List.of("sh", "-c",
                // Unix sockets cannot live on the lab's 9p-shared /tmp: temporary files go to L1's tmpfs.
                "T=$(mktemp -d /dev/shm/kvm-tier.XXXXXX) && exec \"$@\" -Djava.io.tmpdir=$T " + TierLauncher.class.getName()
                        + " kvm " + results, "tier",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Xss2m", "-Djkvm.home=" + home,
                // The tier scales its hang detectors by how much slower the lab is (Patience).
                "-D" + TierLauncher.HOST_JVM_START + "=" + Math.round(TierLauncher.jvmStartMillis()),
                // -Djkvm.tier.classes=REGEX runs only those classes of the tier (looking into one failure).
                "-D" + TierLauncher.CLASSES + "=" + System.getProperty(TierLauncher.CLASSES, TierLauncher.ALL_CLASSES),
                // -Djkvm.tier.childCds=false: children without the shared archive (to measure what it saves).
                "-D" + TierLauncher.CHILD_CDS + "=" + System.getProperty(TierLauncher.CHILD_CDS, "true"),
                "-cp", System.getProperty("java.class.path")));
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        OutputStream tee = new Tee(captured);
        LabResult r = Lab.run(cmd, LabOptions.defaults().withTimeout(WHOLE_RUN).withIdleTimeout(NO_PROGRESS)
                .withMachine(6144, 2), java.io.InputStream.nullInputStream(), tee, tee);
        String output = captured.toString(StandardCharsets.UTF_8);
        List<DynamicTest> tests = new ArrayList<>();
        ObjectMapper json = new ObjectMapper();
        for (String line : Files.readAllLines(results)) {
            if (line.isBlank()) {
                continue;
            }
            JsonNode t = json.readTree(line);
            tests.add(DynamicTest.dynamicTest("[lab] " + t.path("name").asText(), () -> report(t)));
        }
        Files.deleteIfExists(results);
        // The run itself: it completed, and it ran tests.
        long passed = tests.size();
        io.jkvm.testing.TierSummary.say(String.format("direct-KVM: ran inside the lab: %d tests reported, lab %s",
                passed, r.labFailed() ? "FAILED: " + r.error() : "exit " + r.exitCode()));
        tests.add(DynamicTest.dynamicTest("[lab] the tier completed", () -> {
            assertThat(r.labFailed()).as("%s\n--- output ---\n%s\n--- L1 console ---\n%s", r.error(), output, r.console())
                    .isFalse();
            assertThat(r.exitCode()).as(output).isZero();
            assertThat(tests.size()).as("tests reported by the tier").isGreaterThan(1);
        }));
        return tests.stream();
    }

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
