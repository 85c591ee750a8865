package io.jkvm.device.pci;

import static io.jkvm.device.pci.PciConfigSpace.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class PciConfigSpaceTest {
    static final PciId ID = new PciId(0x1af4, 0x1041, 0x02_00_00, 0x01, 0x1af4, 0x0001);

    record Remap(int bar, long from, long to) {}

    PciConfigSpace cfg = new PciConfigSpace(ID);
    List<Remap> remaps = new ArrayList<>();

    {
        cfg.setBarRemapListener((bar, from, to) -> remaps.add(new Remap(bar.index(), from, to)));
    }

    int dword(int offset) {
        return cfg.readDword(offset / 4);
    }

    @Test
    void identificationIsReadOnly() {
        assertThat(dword(VENDOR_ID)).isEqualTo(0x1041_1af4);
        assertThat(dword(REVISION_ID)).isEqualTo(0x0200_0001);
        assertThat(dword(SUBSYSTEM_VENDOR_ID)).isEqualTo(0x0001_1af4);
        assertThat(dword(CACHE_LINE_SIZE) >>> 16 & 0xff).as("header type 0").isZero();
        cfg.write(VENDOR_ID, 4, 0xffff_ffff);
        cfg.write(REVISION_ID, 4, 0);
        cfg.write(SUBSYSTEM_VENDOR_ID, 4, 0);
        cfg.write(HEADER_TYPE, 1, 0x80);
        assertThat(dword(VENDOR_ID)).isEqualTo(0x1041_1af4);
        assertThat(dword(REVISION_ID)).isEqualTo(0x0200_0001);
        assertThat(dword(SUBSYSTEM_VENDOR_ID)).isEqualTo(0x0001_1af4);
        assertThat(cfg.read(HEADER_TYPE, 1)).isZero();
    }

    @Test
    void commandRegisterWritableBits() {
        cfg.write(COMMAND, 2, 0xffff);
        assertThat(cfg.command()).isEqualTo(0x0547);
        cfg.write(COMMAND, 2, 0);
        assertThat(cfg.command()).isZero();
        cfg.write(COMMAND, 2, COMMAND_INTX_DISABLE | COMMAND_BUS_MASTER);
        assertThat(cfg.interruptDisabled()).isTrue();
        assertThat(cfg.busMasterEnabled()).isTrue();
    }

    @Test
    void statusErrorBitsAreWriteOneToClear() {
        cfg.addCapability(0x09, new byte[2]);
        cfg.poke(STATUS, 2, cfg.status() | 0xf900);
        cfg.write(STATUS, 2, 0x2000 | STATUS_CAPABILITIES | STATUS_INTERRUPT);
        assertThat(cfg.status()).isEqualTo((0xf900 & ~0x2000) | STATUS_CAPABILITIES);
        // A dword write to the command register with zero status bits leaves them alone.
        cfg.write(COMMAND, 4, COMMAND_MEMORY);
        assertThat(cfg.status()).isEqualTo((0xf900 & ~0x2000) | STATUS_CAPABILITIES);
        assertThat(cfg.command()).isEqualTo(COMMAND_MEMORY);
    }

    @Test
    void interruptStatusAndPinLine() {
        cfg.setInterruptPin(1);
        cfg.setInterruptLine(11);
        cfg.setInterruptStatus(true);
        assertThat(cfg.status() & STATUS_INTERRUPT).isEqualTo(STATUS_INTERRUPT);
        cfg.write(INTERRUPT_LINE, 2, 0xff05); // pin is read-only
        assertThat(cfg.read(INTERRUPT_LINE, 1)).isEqualTo(5);
        assertThat(cfg.read(INTERRUPT_PIN, 1)).isEqualTo(1);
        cfg.setInterruptStatus(false);
        assertThat(cfg.status() & STATUS_INTERRUPT).isZero();
        assertThatThrownBy(() -> cfg.setInterruptPin(5)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void memory32BarSizing() {
        cfg.addBar(PciBar.memory32(0, 0x1000, false));
        cfg.addBar(PciBar.memory32(1, 0x10_0000, true));
        cfg.write(BAR0, 4, 0xffff_ffff);
        cfg.write(BAR0 + 4, 4, 0xffff_ffff);
        assertThat(dword(BAR0)).isEqualTo(0xffff_f000);
        assertThat(dword(BAR0 + 4)).isEqualTo(0xfff0_0008);
        cfg.write(BAR0, 4, 0xc000_0abc);
        assertThat(dword(BAR0)).isEqualTo(0xc000_0000);
        assertThat(cfg.barAddress(0)).isEqualTo(0xc000_0000L);
    }

    @Test
    void ioBarSizing() {
        cfg.addBar(PciBar.io(2, 0x20));
        cfg.write(BAR0 + 8, 4, 0xffff_ffff);
        assertThat(dword(BAR0 + 8)).isEqualTo(0xffff_ffe1);
        cfg.write(BAR0 + 8, 4, 0xc043);
        assertThat(dword(BAR0 + 8)).isEqualTo(0xc041);
        assertThat(cfg.barAddress(2)).isEqualTo(0xc040L);
    }

    @Test
    void memory64BarSizing() {
        cfg.addBar(PciBar.memory64(0, 0x4000, true));
        cfg.addBar(PciBar.memory64(2, 8L << 30, false));
        for (int i = 0; i < 4; i++) {
            cfg.write(BAR0 + 4 * i, 4, 0xffff_ffff);
        }
        assertThat(dword(BAR0)).isEqualTo(0xffff_c00c);
        assertThat(dword(BAR0 + 4)).isEqualTo(0xffff_ffff);
        assertThat(dword(BAR0 + 8)).isEqualTo(0x0000_0004);
        assertThat(dword(BAR0 + 12)).isEqualTo(0xffff_fffe);

        cfg.write(BAR0, 4, 0x8000_0000);
        cfg.write(BAR0 + 4, 4, 0x0000_0001);
        assertThat(cfg.barAddress(0)).isEqualTo(0x1_8000_0000L);
        assertThat(cfg.bars()).extracting(PciBar::index).containsExactly(0, 2);
    }

    @Test
    void absentBarsReadZeroEvenAfterProbing() {
        cfg.addBar(PciBar.memory32(0, 0x1000, false));
        for (int i = 1; i < 6; i++) {
            cfg.write(BAR0 + 4 * i, 4, 0xffff_ffff);
            assertThat(dword(BAR0 + 4 * i)).isZero();
        }
        cfg.write(EXPANSION_ROM, 4, 0xffff_ffff);
        assertThat(dword(EXPANSION_ROM)).isZero();
    }

    @Test
    void barSlotsCannotBeReused() {
        cfg.addBar(PciBar.memory64(0, 0x1000, false));
        assertThatThrownBy(() -> cfg.addBar(PciBar.io(1, 0x10))).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> cfg.addBar(PciBar.memory32(0, 0x1000, false))).isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> PciBar.memory64(5, 0x1000, false)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> PciBar.io(0, 0x30)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> PciBar.memory32(0, 8, false)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void remapEventsFollowDecodeEnableAndAddressChanges() {
        cfg.addBar(PciBar.memory32(0, 0x1000, false));
        cfg.addBar(PciBar.io(1, 0x40));
        cfg.write(BAR0, 4, 0xc000_0000);
        cfg.write(BAR0 + 4, 4, 0x1000);
        assertThat(remaps).as("no decode yet").isEmpty();

        cfg.write(COMMAND, 2, COMMAND_MEMORY);
        assertThat(remaps).containsExactly(new Remap(0, PciBar.UNMAPPED, 0xc000_0000L));
        assertThat(cfg.mappedAddress(0)).isEqualTo(0xc000_0000L);
        assertThat(cfg.mappedAddress(1)).isEqualTo(PciBar.UNMAPPED);

        cfg.write(BAR0, 4, 0xc010_0000);
        cfg.write(BAR0, 4, 0xc010_0000); // unchanged: no event
        cfg.write(COMMAND, 2, COMMAND_MEMORY | COMMAND_IO);
        cfg.write(COMMAND, 2, 0);
        assertThat(remaps).containsExactly(
                new Remap(0, PciBar.UNMAPPED, 0xc000_0000L),
                new Remap(0, 0xc000_0000L, 0xc010_0000L),
                new Remap(1, PciBar.UNMAPPED, 0x1000L),
                new Remap(0, 0xc010_0000L, PciBar.UNMAPPED),
                new Remap(1, 0x1000L, PciBar.UNMAPPED));
    }

    @Test
    void capabilitiesAreChainedFromTheCapabilityPointer() {
        assertThat(cfg.status() & STATUS_CAPABILITIES).isZero();
        int first = cfg.addCapability(0x11, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10});
        int second = cfg.addCapability(0x09, new byte[] {(byte) 0xaa}, new byte[] {(byte) 0x0f});
        assertThat(first).isEqualTo(0x40);
        assertThat(second).isEqualTo(0x4c); // 0x40 + 12, dword aligned
        assertThat(cfg.status() & STATUS_CAPABILITIES).isEqualTo(STATUS_CAPABILITIES);
        assertThat(cfg.read(CAPABILITIES_POINTER, 1)).isEqualTo(first);
        assertThat(cfg.read(first, 2)).isEqualTo(0x11 | second << 8);
        assertThat(cfg.read(second, 2)).isEqualTo(0x09);
        assertThat(cfg.read(first + 2, 4)).isEqualTo(0x0403_0201);

        // Walk it the way an OS does.
        List<Integer> ids = new ArrayList<>();
        for (int p = cfg.read(CAPABILITIES_POINTER, 1); p != 0; p = cfg.read(p + 1, 1)) {
            ids.add(cfg.read(p, 1));
        }
        assertThat(ids).containsExactly(0x11, 0x09);

        cfg.write(first, 4, 0);
        cfg.write(CAPABILITIES_POINTER, 1, 0);
        assertThat(cfg.read(first, 4)).isEqualTo(0x0201 << 16 | second << 8 | 0x11);
        assertThat(cfg.read(CAPABILITIES_POINTER, 1)).isEqualTo(first);
        cfg.write(second + 2, 1, 0x55);
        assertThat(cfg.read(second + 2, 1)).isEqualTo(0xa5);
    }

    @Test
    void capabilityOverflowIsRejected() {
        cfg.addCapability(0x05, new byte[180]);
        assertThatThrownBy(() -> cfg.addCapability(0x05, new byte[20])).isInstanceOf(IllegalStateException.class);
        // A failed add changes nothing; the 8 bytes left at 0xf8 still take a small capability.
        assertThat(cfg.addCapability(0x05, new byte[6])).isEqualTo(0xf8);
        assertThat(cfg.read(0x41, 1)).isEqualTo(0xf8);
    }

    @Test
    void writeHookSeesGuestWrites() {
        List<String> seen = new ArrayList<>();
        cfg.setWriteHook((off, size) -> seen.add(off + "+" + size));
        cfg.write(0x44, 2, 0);
        cfg.write(0xff, 4, 0); // clamped to the last byte
        cfg.write(0x100, 4, 0); // entirely outside: no hook
        assertThat(seen).containsExactly("68+2", "255+1");
    }

    @Test
    void resetRestoresFirmwareImage() {
        cfg.addBar(PciBar.memory32(0, 0x1000, false));
        cfg.setBarAddress(0, 0xd000_0123L);
        cfg.setInterruptLine(10);
        assertThat(cfg.barAddress(0)).isEqualTo(0xd000_0000L);
        cfg.write(BAR0, 4, 0xe000_0000);
        cfg.write(COMMAND, 2, COMMAND_MEMORY | COMMAND_BUS_MASTER);
        cfg.write(INTERRUPT_LINE, 1, 3);
        remaps.clear();

        cfg.reset();
        assertThat(cfg.barAddress(0)).isEqualTo(0xd000_0000L);
        assertThat(cfg.command()).isZero();
        assertThat(cfg.read(INTERRUPT_LINE, 1)).isEqualTo(10);
        assertThat(remaps).containsExactly(new Remap(0, 0xe000_0000L, PciBar.UNMAPPED));
    }

    @Test
    void outOfRangeAccessesAreIgnored() {
        assertThat(cfg.readDword(64)).isZero();
        assertThat(cfg.readDword(-1)).isZero();
        assertThat(cfg.read(254, 4)).isZero();
        cfg.write(-2, 4, 0xffff_ffff); // bytes 0,1 are vendor ID (read-only)
        assertThat(cfg.read(VENDOR_ID, 2)).isEqualTo(0x1af4);
        cfg.write(COMMAND, 99, 0xffff_ffff);
        assertThat(cfg.command()).isEqualTo(0x0547);
    }
}
