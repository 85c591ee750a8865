package io.jkvm.api;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The metrics destination: a file is appended to; a named pipe never makes a flush wait. */
class MetricsSinkTest {
    @TempDir
    Path dir;

    @Test
    void anExistingFileIsAppendedToAndAMissingOneIsRefused() throws IOException {
        assertThatThrownBy(() -> MetricsSink.open(dir.resolve("missing.json")))
                .isInstanceOf(ApiException.class).hasMessageContaining("create the file or named pipe first");
        Path file = Files.createFile(dir.resolve("metrics.json"));
        try (MetricsSink sink = MetricsSink.open(file)) {
            assertThat(sink.write("{\"a\":1}")).isTrue();
            assertThat(sink.write("{\"a\":2}")).isTrue();
        }
        assertThat(Files.readAllLines(file)).containsExactly("{\"a\":1}", "{\"a\":2}");
    }

    @Test
    void aPipeWithoutAReaderTakesLinesUntilFullThenDropsAndCountsThemWithoutWaiting() throws Exception {
        Path fifo = mkfifo("metrics.fifo");
        String line = "{\"pad\":\"" + "x".repeat(1000) + "\"}";
        try (MetricsSink sink = MetricsSink.open(fifo)) {
            int written = 0;
            // A pipe holds 64 KiB by default (pipe(7)): well under 1000 lines of 1 KB.
            for (int i = 0; i < 1000 && sink.write(line); i++) {
                written++;
            }
            assertThat(written).as("lines the pipe took").isPositive().isLessThan(1000);
            assertThat(sink.missed() + sink.fails()).as("the line that did not fit").isEqualTo(1);

            // A reader that comes later gets whole lines.
            try (BufferedReader r = Files.newBufferedReader(fifo, StandardCharsets.UTF_8)) {
                assertThat(r.readLine()).isEqualTo(line);
            }
        }
    }

    @Test
    void aPathThatCannotBeOpenedIsRefusedNamingTheField() {
        assertThatThrownBy(() -> MetricsSink.open(dir.resolve("missing/dir/m.json")))
                .isInstanceOf(ApiException.class).hasMessageContaining("metrics_path");
    }

    private Path mkfifo(String name) throws Exception {
        Path p = dir.resolve(name);
        Process mk = new ProcessBuilder("mkfifo", p.toString()).redirectErrorStream(true).start();
        assertThat(mk.waitFor()).as(new String(mk.getInputStream().readAllBytes(), StandardCharsets.UTF_8)).isZero();
        return p;
    }
}
