package io.jkvm.device.display;

import io.jkvm.device.Bus;
import io.jkvm.device.BusDevice;
import io.jkvm.device.pci.PciBar;
import io.jkvm.device.pci.PciConfigSpace;
import io.jkvm.display.DisplayMode;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

class BochsDisplayTest {
    static final long VRAM = 16L << 20;
    final Arena arena = Arena.ofConfined();
    final Vram vram = Vram.over(arena.allocate(VRAM, 4096));
    final Bus mmio = new Bus("mmio");
    final FakeMapping mapping = new FakeMapping();
    final BochsDisplay dev = new BochsDisplay(vram, mapping, mmio, Edid.forMode(1280, 800));

    @AfterEach
    void close() {
        dev.close();
        arena.close();
    }

    static final class FakeMapping implements VramMapping {
        final List<String> calls = new ArrayList<>();
        boolean refuse;
        boolean closed;

        @Override
        public void map(long guestAddress) {
            calls.add("map 0x" + Long.toHexString(guestAddress));
            if (refuse) {
                throw new IllegalStateException("EEXIST");
            }
        }

        @Override
        public void unmap() {
            calls.add("unmap");
        }

        @Override
        public boolean collectDirty(long[] bitmap) {
            return true;
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    int cfg(int offset, int size) {
        return dev.config().read(offset, size);
    }

    void cfgWrite(int offset, int size, int value) {
        dev.writeConfig(offset / 4, offset % 4, size, value);
    }

    @Test
    void identityIsWhatTheBochsDriverBinds() {
        assertEquals(0x1234, cfg(PciConfigSpace.VENDOR_ID, 2));
        assertEquals(0x1111, cfg(PciConfigSpace.DEVICE_ID, 2));
        assertEquals(2, cfg(PciConfigSpace.REVISION_ID, 1));
        assertEquals(0x038000, cfg(PciConfigSpace.CLASS_CODE, 3));
        assertEquals(0x1af4, cfg(PciConfigSpace.SUBSYSTEM_VENDOR_ID, 2));
        assertEquals(0x1100, cfg(PciConfigSpace.SUBSYSTEM_ID, 2));
        assertEquals(0, cfg(PciConfigSpace.INTERRUPT_PIN, 1));
    }

    @Test
    void barsSizeAsPrefetchableVramAndFourKilobytesOfRegisters() {
        cfgWrite(0x10, 4, 0xffff_ffff);
        assertEquals(0xff00_0008, cfg(0x10, 4), "16 MiB, 32-bit, prefetchable");
        cfgWrite(0x18, 4, 0xffff_ffff);
        assertEquals(0xffff_f000, cfg(0x18, 4), "4 KiB, 32-bit, not prefetchable");
        assertEquals(0, cfg(0x14, 4));
        assertEquals(0, cfg(0x1c, 4));
        assertEquals(List.of(), mapping.calls, "sizing with decode off maps nothing");
    }

    BusDevice mapRegisters() {
        cfgWrite(0x10, 4, 0xc000_0000);
        cfgWrite(0x18, 4, 0xc100_0000);
        cfgWrite(PciConfigSpace.COMMAND, 2, PciConfigSpace.COMMAND_MEMORY);
        return dev.mmioRegisters();
    }

    @Test
    void memoryDecodeMapsVramAndRegistersAndMovesThem() {
        mapRegisters();
        assertEquals(List.of("unmap", "map 0xc0000000"), mapping.calls);
        assertNotNull(mmio.find(0xc100_0000L + 0x500, 2));
        mapping.calls.clear();
        cfgWrite(0x10, 4, 0xd000_0000);
        assertEquals(List.of("unmap", "map 0xd0000000"), mapping.calls);
        cfgWrite(0x18, 4, 0xc200_0000);
        assertNull(mmio.find(0xc100_0000L + 0x500, 2));
        assertNotNull(mmio.find(0xc200_0000L + 0x500, 2));
        mapping.calls.clear();
        cfgWrite(PciConfigSpace.COMMAND, 2, 0);
        assertEquals(List.of("unmap"), mapping.calls);
        assertNull(mmio.find(0xc200_0000L + 0x500, 2));
    }

    @Test
    void aRefusedMappingLeavesVramUnmappedWithoutFailingTheGuest() {
        mapping.refuse = true;
        mapRegisters();
        assertEquals(List.of("unmap", "map 0xc0000000"), mapping.calls);
        assertNotNull(mmio.find(0xc100_0000L, 4), "the registers still work");
    }

    @Test
    void registersAsLinuxReadsThem() {
        BusDevice r = mapRegisters();
        assertEquals(0xb0c5, r.read(0x500, 2), "ID");
        assertEquals(256, r.read(0x500 + 2 * 0xa, 2), "VIDEO_MEMORY_64K: 16 MiB");
        assertEquals(8, r.read(0x600, 4), "QEMU extension block size");
        assertEquals(0x1e1e1e1e, r.read(0x604, 4), "little endian");
        // EDID header, bytewise and as a dword.
        assertEquals(0x00, r.read(0, 1));
        assertEquals(0xff, r.read(1, 1));
        assertEquals(0xffffff00L, r.read(0, 4));
        byte[] edid = new byte[128];
        for (int i = 0; i < 128; i++) {
            edid[i] = (byte) r.read(i, 1);
        }
        assertEquals(new Edid.Timing(1280, 800, Edid.preferredTiming(Edid.forMode(1280, 800)).pixelClockKhz()),
                Edid.preferredTiming(edid));
        assertEquals(0, r.read(0x200, 4), "zero after the block");
        assertEquals(0, r.read(0x3fc, 4));
        // VGA unblank writes are accepted.
        r.write(0x400 + 0x02, 1, 1);
        r.write(0x400, 1, 0x20);
        assertEquals(0, r.read(0x400 + 0x1a, 1));
    }

    @Test
    void oddAccessesReadAllOnesAndWriteNothing() {
        BusDevice r = mapRegisters();
        assertEquals(0xffff_ffffL, r.read(0x500, 4), "dispi registers are 16-bit");
        assertEquals(0xff, r.read(0x501, 1));
        assertEquals(0xffff_ffffL, r.read(0x3fe, 4), "straddles the EDID's end");
        assertEquals(0xffffL, r.read(0x516, 2), "past the last dispi register");
        assertEquals(0xffff_ffffL, r.read(0xffc, 4));
        r.write(0x502, 4, 1024);
        r.write(0x600, 4, 0);
        r.write(0x0, 1, 0x55);
        assertEquals(0, r.read(0x502, 2));
        assertEquals(8, r.read(0x600, 4));
        assertEquals(0, r.read(0, 1));
    }

    @Test
    void modeSetThroughMmioShowsInTheScanout() {
        BusDevice r = mapRegisters();
        r.write(0x604, 4, 0x1e1e1e1e);
        r.write(0x508, 2, 0); // ENABLE
        r.write(0x506, 2, 32); // BPP
        r.write(0x502, 2, 1280);
        r.write(0x504, 2, 800);
        r.write(0x50c, 2, 1280); // VIRT_WIDTH
        r.write(0x508, 2, 0x41);
        assertEquals(new DisplayMode(1280, 800), dev.scanout().mode());
        assertEquals(1280 * 4, dev.scanout().stride());
    }

    @Test
    void resetWithdrawsEverythingAndClearsTheMode() {
        BusDevice r = mapRegisters();
        r.write(0x506, 2, 32);
        r.write(0x502, 2, 640);
        r.write(0x504, 2, 480);
        r.write(0x508, 2, 1);
        assertFalse(dev.scanout().isOff());
        mapping.calls.clear();
        dev.reset();
        assertTrue(dev.scanout().isOff());
        assertEquals(List.of("unmap"), mapping.calls);
        assertNull(mmio.find(0xc100_0000L, 4));
        assertEquals(PciBar.UNMAPPED, dev.config().mappedAddress(0));
    }

    @Test
    void stateRoundTripsThroughItsCodecAndRemaps() {
        BusDevice r = mapRegisters();
        r.write(0x506, 2, 32);
        r.write(0x502, 2, 800);
        r.write(0x504, 2, 600);
        r.write(0x508, 2, 1);
        BochsDisplay.State s = dev.save();
        io.jkvm.snapshot.DeviceCodecs codecs = new io.jkvm.snapshot.DeviceCodecs(List.of(BochsDisplay.State.CODEC));
        assertEquals(s, codecs.decode(codecs.encode("display0", s), BochsDisplay.State.class));
        FakeMapping m2 = new FakeMapping();
        Bus mmio2 = new Bus("mmio");
        BochsDisplay back = BochsDisplay.restore(vram, m2, mmio2, Edid.forMode(1280, 800), s);
        try {
            assertEquals(s, back.save());
            assertEquals(dev.scanout(), back.scanout());
            assertEquals(List.of("unmap", "map 0xc0000000"), m2.calls);
            assertNotNull(mmio2.find(0xc100_0000L, 4));
        } finally {
            back.close();
        }
        byte[] other = new PciConfigSpace(new io.jkvm.device.pci.PciId(0x1af4, 0x1041, 0x020000)).bytes();
        assertThrows(IllegalArgumentException.class, () -> BochsDisplay.restore(vram, new FakeMapping(), new Bus("x"),
                Edid.forMode(1280, 800), new BochsDisplay.State(other, s.registers())));
    }

    @Test
    void refusesVramTheDriverCannotUse() {
        try (Arena a = Arena.ofConfined()) {
            Vram small = Vram.over(a.allocate(2L << 20, 4096));
            assertThrows(IllegalArgumentException.class, () -> new BochsDisplay(small, new FakeMapping(), mmio, Edid.forMode(640, 480)));
            Vram odd = Vram.over(a.allocate(6L << 20, 4096));
            assertThrows(IllegalArgumentException.class, () -> new BochsDisplay(odd, new FakeMapping(), mmio, Edid.forMode(640, 480)));
        }
    }

    @Test
    void closeReleasesTheMapping() {
        mapRegisters();
        dev.close();
        assertTrue(mapping.closed);
        assertNull(mmio.find(0xc100_0000L, 4));
    }
}
