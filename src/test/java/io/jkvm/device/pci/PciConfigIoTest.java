package io.jkvm.device.pci;

import static org.assertj.core.api.Assertions.assertThat;

import io.jkvm.device.Bus;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Configuration mechanism #1 through a port I/O bus, as the guest sees it. */
class PciConfigIoTest {
    static final int CF8 = 0xcf8;
    static final int CFC = 0xcfc;

    Bus pio;
    PciRoot root;
    PciConfigSpace dev;

    static int address(int bus, int device, int function, int register) {
        return 0x8000_0000 | bus << 16 | device << 11 | function << 8 | register << 2;
    }

    @BeforeEach
    void setUp() {
        root = new PciRoot();
        dev = new PciConfigSpace(new PciId(0x1af4, 0x1042, 0x01_80_00));
        dev.addBar(PciBar.memory32(0, 0x4000, false));
        dev.setInterruptPin(1);
        root.add(() -> dev);
        pio = new Bus("pio");
        pio.register(CF8, PciConfigIo.LENGTH, new PciConfigIo(root));
    }

    void select(int bus, int device, int function, int register) {
        pio.write(CF8, 4, address(bus, device, function, register));
    }

    @Test
    void configAddressReadsBackLikeLinuxExpects() {
        // pci_check_type1: outl(0x80000000, 0xCF8); inl(0xCF8) == 0x80000000.
        pio.write(CF8, 4, 0x8000_0000L);
        assertThat(pio.read(CF8, 4)).isEqualTo(0x8000_0000L);
        pio.write(CF8, 4, 0xffff_ffffL); // reserved 30:24 and 1:0 read 0
        assertThat(pio.read(CF8, 4)).isEqualTo(0x80ff_fffcL);
    }

    @Test
    void narrowAccessesToConfigAddressAreNotConfigAddress() {
        select(0, 0, 0, 0);
        pio.write(CF8 + 3, 1, 0x01); // Linux's outb(0x01, 0xCFB) probe
        pio.write(CF8, 2, 0x1234);
        assertThat(pio.read(CF8, 4)).isEqualTo(address(0, 0, 0, 0) & 0xffff_ffffL);
        assertThat(pio.read(CF8, 1)).isEqualTo(0xff);
        assertThat(pio.read(CF8 + 2, 2)).isEqualTo(0xffff);
    }

    @Test
    void readsHostBridgeIdentity() {
        select(0, 0, 0, 0);
        assertThat(pio.read(CFC, 4)).isEqualTo(0x0d57_8086L);
        select(0, 0, 0, 2);
        assertThat(pio.read(CFC + 2, 2)).isEqualTo(0x0600);
    }

    @Test
    void dataByteLanes() {
        select(0, 1, 0, 0);
        assertThat(pio.read(CFC, 1)).isEqualTo(0xf4);
        assertThat(pio.read(CFC + 1, 1)).isEqualTo(0x1a);
        assertThat(pio.read(CFC + 2, 1)).isEqualTo(0x42);
        assertThat(pio.read(CFC + 3, 1)).isEqualTo(0x10);
        assertThat(pio.read(CFC, 2)).isEqualTo(0x1af4);
        assertThat(pio.read(CFC + 2, 2)).isEqualTo(0x1042);
        assertThat(pio.read(CFC + 1, 2)).isEqualTo(0x421a);

        select(0, 1, 0, 0x0f); // 0x3c: line, pin, min_gnt, max_lat
        pio.write(CFC, 1, 11);
        pio.write(CFC + 1, 1, 4); // pin is read-only
        assertThat(pio.read(CFC, 4)).isEqualTo(0x0000_010bL);

        select(0, 1, 0, 1); // command/status
        pio.write(CFC, 2, PciConfigSpace.COMMAND_MEMORY);
        assertThat(pio.read(CFC, 2)).isEqualTo(PciConfigSpace.COMMAND_MEMORY);
    }

    @Test
    void barProbeThroughPorts() {
        select(0, 1, 0, 4);
        long saved = pio.read(CFC, 4);
        pio.write(CFC, 4, 0xffff_ffffL);
        assertThat(pio.read(CFC, 4)).isEqualTo(0xffff_c000L);
        pio.write(CFC, 4, saved);
        assertThat(pio.read(CFC, 4)).isZero();
    }

    @Test
    void accessesRunningPastTheDataPortAreUnmapped() {
        select(0, 1, 0, 0);
        assertThat(pio.read(CFC + 1, 4)).isEqualTo(0xffff_ffffL); // bus: straddles 0xcff
        PciConfigIo io = new PciConfigIo(root);
        io.write(0, 4, address(0, 1, 0, 0));
        assertThat(io.read(5, 4)).isEqualTo(0xffff_ffffL);
        assertThat(io.read(7, 2)).isEqualTo(0xffffL);
        assertThat(io.read(4, 8)).isEqualTo(-1L);
        io.write(6, 4, 0); // dropped
        assertThat(io.read(4, 4)).isEqualTo(0x1042_1af4L);
    }

    @Test
    void disabledOrOtherBusReadsAllOnes() {
        pio.write(CF8, 4, address(0, 1, 0, 0) & 0x7fff_ffff);
        assertThat(pio.read(CFC, 4)).isEqualTo(0xffff_ffffL);
        select(1, 1, 0, 0);
        assertThat(pio.read(CFC, 4)).isEqualTo(0xffff_ffffL);
        select(0, 9, 0, 0);
        assertThat(pio.read(CFC, 2)).isEqualTo(0xffffL);
        // Writes while disabled are dropped.
        pio.write(CF8, 4, address(0, 1, 0, 1) & 0x7fff_ffff);
        pio.write(CFC, 2, 0xffff);
        assertThat(dev.command()).isZero();
    }
}
