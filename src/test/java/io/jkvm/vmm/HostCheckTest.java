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
 * stock 64-bit guests run emulated, so it must say so, point at the lab, and exit 3; on
 * hardware-assisted KVM it passes with 0.
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
                .contains("/dev/kvm present", "KVM API version", "KVM capabilities", "64-bit guest probe");
        if (Files.exists(Path.of("/sys/module/kvm_pvm"))) {
            assertThat(report.exitCode()).isEqualTo(HostCheck.EXIT_NO_STANDARD_GUESTS);
            assertThat(report.verdict()).contains("cannot run").contains("lab");
            assertThat(report.checks()).filteredOn(c -> c.name().equals("64-bit guest probe"))
                    .singleElement().satisfies(c -> assertThat(c.detail()).contains("emulated"));
        } else {
            assertThat(report.exitCode()).isEqualTo(HostCheck.EXIT_OK);
        }
    }

    @Test
    void theCommandExitsWithTheReportsStatus() {
        int expected = HostCheck.run().exitCode();
        assertThat(Cli.execute("host-check")).isEqualTo(expected);
    }
}
