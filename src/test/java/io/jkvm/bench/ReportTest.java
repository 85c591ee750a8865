package io.jkvm.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class ReportTest {
    private static final List<MetricResult> RESULTS = List.of(
            new MetricResult("exit_pio_vs_floor", "exit round trip, port I/O", "us", Stats.of(8.8, 9.0, 9.4),
                    Stats.of(7.0, 7.2, 7.1), "c-floor", "note"),
            new MetricResult("memory_overhead_vs_qemu", "VMM memory overhead", "MiB", Stats.of(44.3, 44.1, 44.5),
                    Stats.of(21.5, 21.6, 21.4), "qemu", ""));

    @Test
    void tableHasAHeaderAndOneRowPerResultWithMedianRangeAndRatio() {
        String t = Report.table(RESULTS);
        List<String> lines = t.lines().toList();
        assertThat(lines).hasSize(4);
        assertThat(lines.get(0)).startsWith("| figure |").contains("jkvm/peer");
        assertThat(lines.get(2)).isEqualTo("| exit round trip, port I/O | us | 9.00 [8.80-9.40] | c-floor | 7.10 [7.00-7.20] | 1.27x | 3 |");
        assertThat(lines.get(3)).contains("44.3 [44.1-44.5]").contains("21.5 [21.4-21.6]").contains("2.06x");
    }

    @Test
    void numbersKeepAboutThreeSignificantDigits() {
        assertThat(Report.num(35257.4)).isEqualTo("35257");
        assertThat(Report.num(44.34)).isEqualTo("44.3");
        assertThat(Report.num(7.123)).isEqualTo("7.12");
        assertThat(Report.ratio(Double.NaN)).isEqualTo("-");
    }

    @Test
    void jsonHasOneObjectPerMetricWithTheAgreedFields() throws Exception {
        JsonNode root = new ObjectMapper().readTree(Report.json(RESULTS, List.of(), List.of(), "jkvm bench --quick", true));
        assertThat(root.get("command").asText()).isEqualTo("jkvm bench --quick");
        assertThat(root.get("quick").asBoolean()).isTrue();
        JsonNode m = root.get("metrics");
        assertThat(m.size()).isEqualTo(2);
        JsonNode first = m.get(0);
        assertThat(first.get("name").asText()).isEqualTo("exit_pio_vs_floor");
        assertThat(first.get("unit").asText()).isEqualTo("us");
        assertThat(first.get("jkvm").asDouble()).isEqualTo(9.0);
        assertThat(first.get("peer").asDouble()).isEqualTo(7.1);
        assertThat(first.get("peer_name").asText()).isEqualTo("c-floor");
        assertThat(first.get("ratio").asDouble()).isEqualTo(9.0 / 7.1);
        assertThat(first.get("samples").get("jkvm")).hasSize(3);
        assertThat(first.get("samples").get("c-floor").get(0).asDouble()).isEqualTo(7.0);
        assertThat(first.get("range").get("jkvm").get(1).asDouble()).isEqualTo(9.4);
    }

    @Test
    void chartIsAPngSizedToTheRows() throws Exception {
        var img = Chart.render(RESULTS);
        assertThat(img.getWidth()).isEqualTo(1000);
        assertThat(img.getHeight()).isGreaterThan(2 * 30);
        java.nio.file.Path f = java.nio.file.Files.createTempFile("chart", ".png");
        try {
            Chart.write(f, RESULTS);
            byte[] head = java.util.Arrays.copyOf(java.nio.file.Files.readAllBytes(f), 4);
            assertThat(head).containsExactly(0x89, 'P', 'N', 'G');
        } finally {
            java.nio.file.Files.delete(f);
        }
    }
}
