package io.jkvm.testing;

import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/** The tier's stall report names the silent test and shows Java stacks and Linux thread states. */
class TierStallWatchTest {
    @Test
    void theReportShowsTheSilentTestAndWhereEachThreadIs() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        TierStallWatch watch = new TierStallWatch(new PrintStream(bytes, true, StandardCharsets.UTF_8));
        watch.started("SomeTest.itHangs");
        watch.report(Duration.ofMinutes(9));
        String report = bytes.toString(StandardCharsets.UTF_8);
        assertThat(report).startsWith("tier: STALL SomeTest.itHangs printed nothing for 9 min")
                .contains("--- load: ")
                .contains("--- Linux threads of this JVM:")
                // This thread, by its Linux name with a state, and by its Java stack.
                .containsPattern("\\n    \\d+ \\S.* [RSDTZI] wchan=")
                .contains("\"" + Thread.currentThread().getName() + "\" RUNNABLE")
                .contains("io.jkvm.testing.TierStallWatchTest.theReportShowsTheSilentTestAndWhereEachThreadIs")
                .endsWith("tier: end of STALL report\n");
    }
}
