package io.jkvm.vmm;

import io.jkvm.cli.Cli;
import io.jkvm.testing.KvmAvailable;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Direct-KVM: host-check tells this host apart. On PVM-backed KVM (this project's machines)
 * stock 64-bit guests run only through the instruction emulator, so it must say so, point at the
 * lab, and exit 3; on hardware-assisted KVM and in the lab machine it passes with 0.
 */
@Tag("kvm")
class HostCheckTest {
    @BeforeEach
    void kvm() {
        KvmAvailable.assume();
    }

    @Test
    void reportsWhetherStockGuestsRunWithADistinctStatus() {
        HostCheck.Report report = HostCheck.run();
        assertThat(report.checks()).extracting(HostCheck.Check::name)
                .contains("KVM device", "KVM API version", "KVM capabilities", "64-bit guest probe");
        if (Files.exists(Path.of("/sys/module/kvm_pvm"))) {
            // This project's PVM machines: the probe runs (through the instruction emulator), and
            // the backend, not the speed, makes the verdict.
            assertThat(report.kind()).isEqualTo(HostCheck.Kind.PVM);
            assertThat(report.exitCode()).isEqualTo(HostCheck.EXIT_NO_STANDARD_GUESTS);
            assertThat(report.verdict()).contains("PVM").contains("lab");
        } else {
            // Hardware-assisted KVM, or nested KVM on an emulated CPU (the lab machine, where this
            // tier runs on hosts without KVM): stock guests run, if slowly.
            assertThat(report.kind().runsStockGuests()).as(report.verdict()).isTrue();
            assertThat(report.exitCode()).isEqualTo(HostCheck.EXIT_OK);
        }
        assertThat(report.checks()).filteredOn(c -> c.name().equals("64-bit guest probe"))
                .singleElement().satisfies(c -> assertThat(c.detail()).contains("returned from it"));
    }

    @Test
    void theCommandExitsWithTheReportsStatus() {
        int expected = HostCheck.run().exitCode();
        assertThat(Cli.execute("host-check")).isEqualTo(expected);
    }
}
