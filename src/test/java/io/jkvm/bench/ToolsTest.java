package io.jkvm.bench;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Unit: the bench's helper programs run to completion or to their timeout, whatever they do with their output. */
class ToolsTest {
    @Test
    void aProgramsOutputComesBack() throws Exception {
        assertThat(Tools.run(Path.of("/"), List.of("sh", "-c", "echo exits=3 ns=9"), 60)).isEqualTo("exits=3 ns=9\n");
    }

    @Test
    @Timeout(60) // a hang detector: the call must return after its own 1 s timeout
    void aProgramThatHangsWithItsOutputOpenMeetsTheTimeout() {
        assertThatThrownBy(() -> Tools.run(Path.of("/"), List.of("sleep", "600"), 1))
                .isInstanceOf(IOException.class).hasMessageContaining("timed out after 1 s");
    }

    @Test
    void aFailingProgramIsNamedWithItsOutput() {
        assertThatThrownBy(() -> Tools.run(Path.of("/"), List.of("sh", "-c", "echo no such guest; exit 3"), 60))
                .isInstanceOf(IOException.class).hasMessageContaining("exit 3").hasMessageContaining("no such guest");
    }
}
