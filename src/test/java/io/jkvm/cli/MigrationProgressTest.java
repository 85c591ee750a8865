package io.jkvm.cli;

import io.jkvm.migration.MigrationReport;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.assertj.core.api.Assertions.assertThat;

class MigrationProgressTest {
    private static final long MIB = 1L << 20;

    private static MigrationReport active(String phase, int rounds, long round, long remaining, long expected, int throttle) {
        return new MigrationReport(MigrationReport.Status.ACTIVE, "tcp:10.0.0.2:4444", phase, 1500, 0, 0, 0, 0, 300,
                40 * MIB, rounds, 10240, 512, 0, throttle, 850.4, round, remaining, expected, 0L, 0L, 0L, 0L, 0L, null);
    }

    @Test
    void aPrecopyLineShowsTheRoundsBarAndWhatIsLeft() {
        String line = MigrationProgress.line(active("precopy", 2, 128 * MIB, 96 * MIB, 12, 20));
        assertThat(line).isEqualTo("precopy round 2 [######------------------] 25%, 96.0 of 128.0 MiB left,"
                + " 40.0 MiB sent, 850 MiB/s, expected downtime 12 ms (max 300), throttle 20%");
    }

    @Test
    void otherPhasesShowWhatWasSentWithoutABar() {
        assertThat(MigrationProgress.line(active("stop-and-copy", 3, 0, 0, 0, 0)))
                .isEqualTo("stop-and-copy, 40.0 MiB sent, 850 MiB/s");
    }

    @Test
    void anEmptyRoundDrawsAnEmptyBarNotADivisionByZero() {
        assertThat(MigrationProgress.line(active("precopy", 0, 0, 0, 0, 0))).startsWith("precopy round 0 [------------------------] 0%");
    }

    @Test
    void withoutATerminalALineIsPrintedOnlyWhenThePhaseOrRoundChanges() {
        StringWriter text = new StringWriter();
        MigrationProgress p = new MigrationProgress(new PrintWriter(text), false, 80);
        p.show(active("precopy", 0, 128 * MIB, 100 * MIB, 0, 0));
        p.show(active("precopy", 0, 128 * MIB, 50 * MIB, 0, 0));
        p.show(active("precopy", 1, 8 * MIB, 8 * MIB, 0, 0));
        p.show(active("pausing", 1, 0, 0, 0, 0));
        p.done();
        assertThat(text.toString().lines()).hasSize(3).doesNotContain("\r");
    }

    @Test
    void onATerminalOneLineIsRedrawnInPlaceAndEndedOnce() {
        StringWriter text = new StringWriter();
        MigrationProgress p = new MigrationProgress(new PrintWriter(text), true, 200);
        p.show(active("precopy", 0, 128 * MIB, 100 * MIB, 0, 0));
        p.show(active("pausing", 1, 0, 0, 0, 0));
        p.done();
        String out = text.toString();
        assertThat(out).startsWith("\r").endsWith(System.lineSeparator()).containsOnlyOnce(System.lineSeparator());
        String last = out.substring(out.lastIndexOf('\r') + 1).stripTrailing();
        assertThat(last).isEqualTo("pausing, 40.0 MiB sent, 850 MiB/s");
        assertThat(out.substring(out.lastIndexOf('\r') + 1).length())
                .as("padded over the longer line before").isGreaterThan(out.indexOf('\r', 1) - 1);
    }

    @Test
    void onANarrowTerminalTheRedrawnLineNeverWraps() {
        StringWriter text = new StringWriter();
        MigrationProgress p = new MigrationProgress(new PrintWriter(text), true, 40);
        p.show(active("precopy", 2, 128 * MIB, 96 * MIB, 12, 20));
        p.show(active("precopy", 3, 128 * MIB, 16 * MIB, 12, 20));
        for (String redraw : text.toString().split("\r")) {
            assertThat(redraw.length()).as(redraw).isLessThan(40);
        }
        assertThat(MigrationOptions.terminalColumns("40")).isEqualTo(40);
        assertThat(MigrationOptions.terminalColumns(null)).isEqualTo(80);
        assertThat(MigrationOptions.terminalColumns("wide")).isEqualTo(80);
        assertThat(MigrationOptions.terminalColumns("3")).isEqualTo(80);
    }
}
