package io.jkvm.arch.x86.acpi;

import static org.assertj.core.api.Assertions.assertThat;

import io.jkvm.arch.x86.TestMemory;
import io.jkvm.memory.GuestMemory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Cross-checks our tables with ACPICA's disassembler when it is installed (Debian: acpica-tools). */
class IaslTest {
    @TempDir
    Path dir;

    private static boolean haveIasl() throws Exception {
        Process p = new ProcessBuilder("sh", "-c", "command -v iasl").redirectErrorStream(true).start();
        return p.waitFor(10, TimeUnit.SECONDS) && p.exitValue() == 0;
    }

    @Test
    void iaslDisassemblesOurTables() throws Exception {
        Assumptions.assumeTrue(haveIasl(), "iasl not installed (Debian package acpica-tools): disassembly check skipped");
        GuestMemory mem = TestMemory.flat(2L << 20);
        AcpiTables.Written w = AcpiTables.write(mem, 2);
        for (long at : new long[] {w.fadt(), w.madt(), w.dsdt()}) {
            byte[] t = mem.read(at, mem.readInt(at + 4));
            String name = new String(t, 0, 4).toLowerCase();
            Path f = Files.write(dir.resolve(name + ".dat"), t);
            Process p = new ProcessBuilder("iasl", "-d", f.toString()).directory(dir.toFile())
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as(out).isZero();
            String dsl = Files.readString(dir.resolve(name + ".dsl"));
            assertThat(dsl).doesNotContainIgnoringCase("invalid").doesNotContain("**** ");
            if (name.equals("dsdt")) {
                assertThat(dsl).contains("_S5_", "PNP0A03", "PNP0501", "_PRT");
            }
        }
    }
}
