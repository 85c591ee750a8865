package io.jkvm.bench;

import io.jkvm.cli.Cli;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.assertj.core.api.Assertions.assertThat;

/** Bad flags end with one clear line and the usage exit status, before anything is measured. */
class BenchCommandTest {
    private static String[] run(String... args) {
        CommandLine cl = Cli.commandLine();
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        return new String[] {String.valueOf(code), err.toString()};
    }

    @Test
    void unknownMetricIsNamed() {
        String[] r = run("bench", "--metrics", "exit-pio,warp");
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[1].strip()).isEqualTo("jkvm: --metrics: unknown figure 'warp' (known: exit-pio, exit-mmio, exit-confined, memory, restore, migrate, boot, io)");
    }

    @Test
    void exitsMustBeAMultipleOfTheUnroll() {
        String[] r = run("bench", "--exits", "100");
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[1].strip()).isEqualTo("jkvm: --exits 100: must be a positive multiple of 64");
    }

    @Test
    void samplesMustBePositive() {
        assertThat(run("bench", "--samples", "0")[1].strip()).isEqualTo("jkvm: --samples 0: must be between 1 and 100");
    }

    @Test
    void outputFilesNeedAnExistingDirectory() {
        String[] r = run("bench", "--json", "/nonexistent/dir/r.json");
        assertThat(r[0]).isEqualTo("2");
        assertThat(r[1]).contains("--json /nonexistent/dir/r.json: directory does not exist");
    }
}
