package io.jkvm.labtests;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** The lab scripts' shell functions ({@link LabGuests#SHELL_LIB}), run by this host's sh: no lab needed. */
class LabShellLibTest {
    private static final String MARK = "has been silent for";

    private static String report(String rip) {
        return "WARN SilentConsoleReporter - the serial console " + MARK + " 180 s; what each vCPU is doing:\n"
                + "vcpu 0: halted, rip=" + rip + "\nvcpu 1: in KVM_RUN\n";
    }

    private static String sh(Path dir, String script) throws IOException, InterruptedException {
        Path out = Files.createTempFile(dir, "sh", ".txt");
        Process p = new ProcessBuilder("sh", "-c", LabGuests.SHELL_LIB + "\nset -eu\n" + script)
                .directory(dir.toFile()).redirectErrorStream(true).redirectOutput(out.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null"))).start();
        boolean exited = p.waitFor(60, TimeUnit.SECONDS);
        if (!exited) {
            p.destroyForcibly().waitFor();
        }
        String text = Files.readString(out);
        assertThat(exited).as(text).isTrue();
        assertThat(p.exitValue()).as(text).isZero();
        return text;
    }

    private static int count(String text, String s) {
        return text.split(java.util.regex.Pattern.quote(s), -1).length - 1;
    }

    @Test
    void eachHangReportIsPrintedOnceWhenItAppearsInTheScratchDirectory(@TempDir Path dir) throws Exception {
        Path d = Files.createDirectory(dir.resolve("d"));
        Path l = Files.createDirectory(dir.resolve("l"));
        Files.writeString(d.resolve("vmm.err"), "{\"event\":\"api_listening\"}\n" + report("0x1111"));
        Files.writeString(d.resolve("serial.out"), "booting\n");
        Files.writeString(l.resolve("s1.log"), "console and VMM stderr together\n");
        Files.writeString(dir.resolve("second"), report("0x2222"));
        Files.writeString(dir.resolve("third"), report("0x3333"));
        String out = sh(dir, """
                D=%s
                L=%s
                hang_reports
                echo "@@second look"
                hang_reports
                echo "@@after two more reports"
                cat %s >> $D/vmm.err
                cat %s >> $L/s1.log
                hang_reports
                """.formatted(d, l, dir.resolve("second"), dir.resolve("third")));
        String first = out.substring(0, out.indexOf("@@second look"));
        String second = out.substring(out.indexOf("@@second look"), out.indexOf("@@after two more reports"));
        String third = out.substring(out.indexOf("@@after two more reports"));
        assertThat(first).contains(d.resolve("vmm.err") + ": vcpu 0: halted, rip=0x1111");
        assertThat(count(first, MARK)).as(out).isOne();
        assertThat(second).as("nothing new, nothing printed").doesNotContain(MARK);
        assertThat(third).as(out).contains("rip=0x2222").contains(l.resolve("s1.log") + ": vcpu 0: halted, rip=0x3333")
                .doesNotContain("rip=0x1111").doesNotContain("booting");
        assertThat(count(third, MARK)).as(out).isEqualTo(2);
    }

    @Test
    void scriptsWithoutAScratchDirectoryOrReportsPrintNothing(@TempDir Path dir) throws Exception {
        assertThat(sh(dir, "hang_reports\necho done\n")).isEqualTo("done\n");
        Files.writeString(dir.resolve("v1.err"), "{\"event\":\"instance_started\"}\n");
        Files.createDirectory(dir.resolve("a-directory.err"));
        assertThat(sh(dir, "L=" + dir + "\nhang_reports\necho done\n")).isEqualTo("done\n");
    }
}
