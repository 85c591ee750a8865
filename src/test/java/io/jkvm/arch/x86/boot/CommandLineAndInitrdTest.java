package io.jkvm.arch.x86.boot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class CommandLineAndInitrdTest {
    @Test
    void commandLineIsNulTerminated() {
        assertThat(CommandLine.encode("console=ttyS0", 100, "x")).isEqualTo("console=ttyS0\0".getBytes());
        assertThat(CommandLine.encode("", 0, "x")).containsExactly(0);
    }

    @Test
    void commandLineLengthCheckedAgainstKernelLimit() {
        assertThat(CommandLine.encode("a".repeat(2047), 2047, "cmdline_size")).hasSize(2048);
        assertThatThrownBy(() -> CommandLine.encode("a".repeat(2048), 2047, "cmdline_size in the kernel header"))
                .isInstanceOf(BootException.class)
                .hasMessage("kernel command line is 2048 bytes; the kernel accepts at most 2047 (cmdline_size in the kernel header)");
    }

    @Test
    void commandLineLimitedByJkvmBuffer() {
        assertThatThrownBy(() -> CommandLine.encode("a".repeat(5000), 0xffffffffL, "cmdline_size"))
                .hasMessageContaining("at most 4095 (jkvm's command line buffer)");
    }

    @Test
    void commandLineRejectsNul() {
        assertThatThrownBy(() -> CommandLine.encode("a\0b", 100, "x")).hasMessageContaining("NUL");
    }

    @Test
    void initrdGoesAsHighAsAllowed() {
        long ram = 512L << 20;
        assertThat(InitrdPlacement.place(0x1234, 0x200_0000, 0x7fff_ffffL, ram)).isEqualTo(ram - 0x2000);
        assertThat(InitrdPlacement.place(4096, 0x200_0000, 0x7fff_ffffL, ram)).isEqualTo(ram - 4096);
    }

    @Test
    void initrdRespectsInitrdAddrMax() {
        long start = InitrdPlacement.place(0x10_0000, 0x200_0000, 0x0fff_ffffL, 1L << 30);
        assertThat(start + 0x10_0000).isLessThanOrEqualTo(0x1000_0000L);
        assertThat(start).isEqualTo(0x1000_0000L - 0x10_0000);
        // an odd initrd_addr_max still yields a page-aligned start whose end stays below the limit
        start = InitrdPlacement.place(100, 0x200_0000, 0x0fff_f0ffL, 1L << 30);
        assertThat(start % 4096).isZero();
        assertThat(start + 100 - 1).isLessThanOrEqualTo(0x0fff_f0ffL);
    }

    @Test
    void initrdStaysBelow4GiB() {
        long start = InitrdPlacement.place(4096, 0x200_0000, 0xffff_ffffL, 3L << 30);
        assertThat(start).isEqualTo((3L << 30) - 4096);
    }

    @Test
    void initrdThatDoesNotFitIsAClearError() {
        assertThatThrownBy(() -> InitrdPlacement.place(100L << 20, 0x500_0000, 0x7fff_ffffL, 128L << 20))
                .isInstanceOf(BootException.class)
                .hasMessageContaining("initrd of 104857600 bytes (100 MiB) does not fit")
                .hasMessageContaining("0x5000000");
        assertThatThrownBy(() -> InitrdPlacement.place(0, 0, 0x7fff_ffffL, 128L << 20)).hasMessage("initrd is empty");
    }

    @Test
    void initrdExactlyFillingTheGapFits() {
        assertThat(InitrdPlacement.place(0x100_0000, 0x100_0000, 0x7fff_ffffL, 0x200_0000)).isEqualTo(0x100_0000);
    }
}
