package io.jkvm.lab;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

class ConsoleMonitorTest {
    private static final String CONSOLE = "[    0.1] boot noise\r\nmore noise\n@@JKVM-LAB-START@@\r\n"
            + "out @@ put\r\nlast line without newline@@JKVM-LAB-EXIT 42@@\r\n";

    @Test
    void forwardsOnlyTheCommandsOutput() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ConsoleMonitor m = feed(CONSOLE, 1000, out);
        assertThat(out.toString(StandardCharsets.UTF_8)).isEqualTo("out @@ put\r\nlast line without newline");
        assertThat(m.exitStatus()).contains(42);
        assertThat(m.started()).isTrue();
        assertThat(m.log()).contains("boot noise");
    }

    @Property(tries = 50)
    void markersAreFoundWhateverTheReadSizes(@ForAll @IntRange(min = 1, max = 40) int chunk) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ConsoleMonitor m = feed(CONSOLE, chunk, out);
        assertThat(out.toString(StandardCharsets.UTF_8)).isEqualTo("out @@ put\r\nlast line without newline");
        assertThat(m.exitStatus()).contains(42);
    }

    @Test
    void reportsErrorsBeforeTheStart() throws IOException {
        ConsoleMonitor m = feed("noise\n@@JKVM-LAB-ERROR no /dev/kvm in L1@@\n", 7, null);
        assertThat(m.started()).isFalse();
        assertThat(m.error()).contains("no /dev/kvm in L1");
        assertThat(m.exitStatus()).isEmpty();
    }

    @Test
    void heldBackBytesAreReleasedAtTheEnd() throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ConsoleMonitor m = feed("@@JKVM-LAB-START@@\nabc@@JKVM-LA", 3, out);
        m.finish();
        assertThat(out.toString(StandardCharsets.UTF_8)).isEqualTo("abc@@JKVM-LA");
        assertThat(m.exitStatus()).isEmpty();
    }

    private static ConsoleMonitor feed(String text, int chunk, ByteArrayOutputStream out) throws IOException {
        ConsoleMonitor m = new ConsoleMonitor(out);
        byte[] b = text.getBytes(StandardCharsets.UTF_8);
        for (int i = 0; i < b.length; i += chunk) {
            m.feed(b, i, Math.min(chunk, b.length - i));
        }
        return m;
    }
}
