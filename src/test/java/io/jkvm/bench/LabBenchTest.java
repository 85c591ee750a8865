package io.jkvm.bench;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** Unit: rows measured inside the lab come back with every sample, renamed and labelled as lab figures. */
class LabBenchTest {
    @Test
    void labRowsKeepTheirSamplesAndSayWhereTheyWereMeasured() throws Exception {
        List<MetricResult> direct = List.of(
                new MetricResult("exit_pio_vs_qemu", "exit round trip, port I/O", "us", Stats.of(50, 52, 55),
                        Stats.of(60, 61, 70), "qemu", "64000 exits per run"),
                new MetricResult("memory_pss", "VMM memory overhead", "MiB", Stats.of(57.3), Stats.of(31.4), "qemu", ""));
        List<MetricResult> back = LabBench.labelled(Report.json(direct, List.of(), List.of(), "jkvm bench --quick", true));
        assertThat(back).hasSize(2);
        MetricResult exits = back.getFirst();
        assertThat(exits.name()).isEqualTo("lab_exit_pio_vs_qemu");
        assertThat(exits.title()).isEqualTo("exit round trip, port I/O (in the lab)");
        assertThat(exits.jkvm().samples()).containsExactly(50.0, 52.0, 55.0);
        assertThat(exits.peer().samples()).containsExactly(60.0, 61.0, 70.0);
        assertThat(exits.peerName()).isEqualTo("qemu");
        assertThat(exits.ratio()).isEqualTo(52.0 / 61.0);
        assertThat(exits.note()).contains("in the lab").contains("64000 exits per run");
        assertThat(back.get(1).note()).contains("in the lab").doesNotEndWith("; ");
    }

    @Test
    void aFileWrittenWhileTheBenchRanSaysWhichMetricsEndedAndWhySomeFailed() throws Exception {
        List<MetricResult> measured = List.of(new MetricResult("exit_pio_vs_qemu", "exit round trip, port I/O", "us",
                Stats.of(50, 52, 55), Stats.of(60, 61, 70), "qemu", ""));
        LabBench.Progress p = LabBench.progress(Report.json(measured, List.of("exit-pio", "memory"),
                List.of("memory (QEMU exited with status 2)"), "jkvm bench --quick", true));
        assertThat(p.rows()).extracting(MetricResult::name).containsExactly("lab_exit_pio_vs_qemu");
        assertThat(p.finished()).containsExactly("exit-pio", "memory");
        assertThat(p.failed()).containsExactly("memory (QEMU exited with status 2)");
    }

    @Test
    void aFileFromBeforeTheProgressFieldsHasNoneFinished() throws Exception {
        LabBench.Progress p = LabBench.progress("{\"command\": \"jkvm bench\", \"metrics\": []}");
        assertThat(p.rows()).isEmpty();
        assertThat(p.finished()).isEmpty();
        assertThat(p.failed()).isEmpty();
    }
}
