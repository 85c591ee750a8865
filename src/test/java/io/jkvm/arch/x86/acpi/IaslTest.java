package io.jkvm.arch.x86.acpi;

import static org.assertj.core.api.Assertions.assertThat;

import io.jkvm.arch.x86.TestMemory;
import io.jkvm.arch.x86.VirtioMmioWindow;
import io.jkvm.memory.GuestMemory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
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
        String dsdt = disassemble(mem, w, "pci");
        assertThat(dsdt).contains("_S5_", "PNP0A03", "PNP0501", "_PRT").doesNotContain("LNRO0005");
    }

    @Test
    void iaslDisassemblesAVirtioMmioVmsTables() throws Exception {
        Assumptions.assumeTrue(haveIasl(), "iasl not installed (Debian package acpica-tools): disassembly check skipped");
        GuestMemory mem = TestMemory.flat(2L << 20);
        AcpiTables.Written w = AcpiTables.write(mem, 2,
                List.of(VirtioMmioWindow.ofSlot(0), VirtioMmioWindow.ofSlot(1)));
        String dsdt = disassemble(mem, w, "mmio");
        assertThat(dsdt).contains("Device (VR00)", "Device (VR01)", "\"LNRO0005\"",
                "Memory32Fixed (ReadWrite,", "0xFC001000,", "Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive");
        assertThat(dsdt).containsPattern("(?s)0xFC000000,.*0x00000005,.*0xFC001000,.*0x00000006,");
        String madt = Files.readString(dir.resolve("mmio").resolve("apic.dsl"));
        // slot 1's override: ISA IRQ 6 to GSI 6, active-high (polarity 1) and level (trigger mode 3).
        assertThat(madt).containsPattern("Source : 06\\s+\\[[^]]*]\\s+Interrupt : 00000006\\s+\\[[^]]*]\\s+"
                + "Flags \\(decoded below\\) : 000D\\s+"
                + "Polarity : 1\\s+Trigger Mode : 3");
    }

    /** Disassembles the FADT, MADT and DSDT into {@code dir/sub}; returns the DSDT's ASL. */
    private String disassemble(GuestMemory mem, AcpiTables.Written w, String sub) throws Exception {
        Path d = Files.createDirectories(dir.resolve(sub));
        String dsdt = null;
        for (long at : new long[] {w.fadt(), w.madt(), w.dsdt()}) {
            byte[] t = mem.read(at, mem.readInt(at + 4));
            String name = new String(t, 0, 4).toLowerCase();
            Path f = Files.write(d.resolve(name + ".dat"), t);
            Process p = new ProcessBuilder("iasl", "-d", f.toString()).directory(d.toFile())
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes());
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).as(out).isZero();
            String dsl = Files.readString(d.resolve(name + ".dsl"));
            assertThat(dsl).doesNotContainIgnoringCase("invalid").doesNotContain("**** ");
            if (name.equals("dsdt")) {
                dsdt = dsl;
            }
        }
        return dsdt;
    }
}
