package io.jkvm.labtests;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** How the tier's results merge across lab machines; no lab needed. */
class TierRecordsTest {
    private static String start(String m) {
        return "{\"status\":\"STARTED\",\"method\":\"" + m + "\",\"name\":\"" + m + "\"}";
    }

    private static String end(String m, String status, boolean retry) {
        return "{\"status\":\"" + status + "\",\"method\":\"" + m + "\",\"name\":\"" + m + "\",\"message\":\"" + status + " once\""
                + (retry ? ",\"retry\":true" : "") + "}";
    }

    @Test
    void aFailureRetriedInTheSameMachineIsReplacedByItsRetry() {
        TierRecords r = new TierRecords();
        assertThat(r.machine(List.of(start("A.a"), end("A.a", "FAILED", false), start("B.b"), end("B.b", "PASSED", false),
                start("A.a"), end("A.a", "PASSED", true)))).isEmpty();
        assertThat(r.finished()).hasSize(2);
        assertThat(r.finished().getFirst().path("status").asText()).isEqualTo("PASSED");
        assertThat(r.finished().getFirst().path("first_failure").asText()).isEqualTo("FAILED once");
        assertThat(r.retried()).containsExactly("A.a");
    }

    @Test
    void aFailureInAMachineThatDiedBeforeItsRetryRunsAgainInTheNextAsItsRetry() {
        TierRecords r = new TierRecords();
        // Machine 1: A.a fails, B.b passes, C.c is running when the machine dies.
        assertThat(r.machine(List.of(start("A.a"), end("A.a", "FAILED", false), start("B.b"), end("B.b", "PASSED", false),
                start("C.c")))).containsExactly("C.c");
        r.machineDied();
        assertThat(r.done()).containsExactly("B.b");
        // Machine 2 runs what is left, A.a first try there being its retry.
        assertThat(r.machine(List.of(start("A.a"), end("A.a", "PASSED", false), start("C.c"), end("C.c", "PASSED", false))))
                .isEmpty();
        assertThat(r.finished()).extracting(t -> t.path("name").asText() + "=" + t.path("status").asText())
                .containsExactly("A.a=PASSED", "B.b=PASSED", "C.c=PASSED");
        assertThat(r.retried()).containsExactly("A.a");
        assertThat(r.finished().getFirst().path("first_failure").asText()).isEqualTo("FAILED once");
    }

    @Test
    void aTestThatFailsOnBothTriesStaysFailedAndIsNotRunAThirdTime() {
        TierRecords r = new TierRecords();
        r.machine(List.of(start("A.a"), end("A.a", "FAILED", false), start("A.a"), end("A.a", "FAILED", true)));
        r.machineDied();
        assertThat(r.done()).containsExactly("A.a");
        assertThat(r.finished()).singleElement().satisfies(t -> {
            assertThat(t.path("status").asText()).isEqualTo("FAILED");
            assertThat(t.has("first_failure")).isTrue();
        });
    }

    @Test
    void aCompletedMachineLeavesNothingToRunAgain() {
        TierRecords r = new TierRecords();
        r.machine(List.of(start("A.a"), end("A.a", "FAILED", false), start("A.a"), end("A.a", "SKIPPED", true)));
        assertThat(r.done()).containsExactly("A.a");
        assertThat(r.finished().getFirst().path("status").asText()).as("a skipped retry leaves the failure").isEqualTo("FAILED");
    }
}
