package io.jkvm.labtests;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** The lab scripts' shell functions ({@link LabGuests#SHELL_LIB}), run by this host's sh: no lab needed. */
class LabShellLibTest {
    private static final String REPORT = "WARN SilentConsoleReporter - the serial console has been silent for 180 s;"
            + " what each vCPU is doing:\nvcpu 0: halted, rip=0xffffffff81001234\nvcpu 1: in KVM_RUN\n";

    private static String sh(Path dir, String script) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("sh", "-c", LabGuests.SHELL_LIB + "\nset -eu\n" + script)
                .directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        return out;
    }

    @Test
    void aVmmsHangReportIsPrintedOnceWhenItAppearsInTheScratchDirectory(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("vmm.err"), "{\"event\":\"api_listening\"}\n" + REPORT);
        Files.writeString(dir.resolve("serial.out"), "booting\n");
        Files.writeString(dir.resolve("next-report"), REPORT);
        String out = sh(dir, """
                D=%s
                hang_reports
                echo "@@second look"
                hang_reports
                echo "@@after another report"
                cat $D/next-report >> $D/vmm.err
                hang_reports
                """.formatted(dir));
        assertThat(out).containsOnlyOnce("@@second look").contains(dir.resolve("vmm.err") + ": vcpu 0: halted, rip=0xffffffff81001234");
        String beforeSecond = out.substring(0, out.indexOf("@@after another report"));
        assertThat(beforeSecond.split("has been silent for", -1)).as(out).hasSize(2);
        assertThat(out.substring(out.indexOf("@@second look"), out.indexOf("@@after another report")))
                .as("nothing new, nothing printed").doesNotContain("silent");
        assertThat(out.substring(out.indexOf("@@after another report"))).contains("has been silent for")
                .doesNotContain("serial.out").doesNotContain("booting");
    }

    @Test
    void scriptsWithoutAScratchDirectoryOrReportsPrintNothing(@TempDir Path dir) throws Exception {
        assertThat(sh(dir, "hang_reports\necho done\n")).isEqualTo("done\n");
        Files.writeString(dir.resolve("v1.err"), "{\"event\":\"instance_started\"}\n");
        assertThat(sh(dir, "L=" + dir + "\nhang_reports\necho done\n")).isEqualTo("done\n");
    }
}
