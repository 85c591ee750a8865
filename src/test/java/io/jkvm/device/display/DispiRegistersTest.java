package io.jkvm.device.display;

import io.jkvm.display.DisplayMode;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import static io.jkvm.device.display.DispiRegisters.*;
import static org.junit.jupiter.api.Assertions.*;

class DispiRegistersTest {
    static final long VRAM = 16L << 20;

    /** What Linux's bochs_hw_setmode writes, in its order. */
    static void setMode(DispiRegisters r, int w, int h) {
        r.write(INDEX_ENABLE, 0);
        r.write(INDEX_BPP, 32);
        r.write(INDEX_XRES, w);
        r.write(INDEX_YRES, h);
        r.write(INDEX_BANK, 0);
        r.write(INDEX_VIRT_WIDTH, w);
        r.write(INDEX_VIRT_HEIGHT, (int) (VRAM / (w * 4L)));
        r.write(INDEX_X_OFFSET, 0);
        r.write(INDEX_Y_OFFSET, 0);
        r.write(INDEX_ENABLE, ENABLED | LFB_ENABLED);
    }

    @Test
    void identityAndVideoMemoryAreReadOnly() {
        DispiRegisters r = new DispiRegisters(VRAM);
        assertEquals(0xb0c5, r.read(INDEX_ID));
        assertEquals(256, r.read(INDEX_VIDEO_MEMORY_64K), "16 MiB in 64 KiB units");
        r.write(INDEX_ID, 0xb0c0);
        r.write(INDEX_VIDEO_MEMORY_64K, 1);
        assertEquals(0xb0c5, r.read(INDEX_ID));
        assertEquals(256, r.read(INDEX_VIDEO_MEMORY_64K));
        assertEquals(0, r.read(COUNT));
        assertEquals(0, r.read(-1));
        assertEquals(0, r.read(0xffff));
        r.write(0x1234, 5); // ignored, no exception
    }

    @Test
    void linuxModeSetGivesThatScanout() {
        DispiRegisters r = new DispiRegisters(VRAM);
        assertEquals(Scanout.OFF, r.scanout(), "off at power-on");
        setMode(r, 1024, 768);
        Scanout s = r.scanout();
        assertEquals(new DisplayMode(1024, 768), s.mode());
        assertEquals(4096, s.stride());
        assertEquals(0, s.offset());
        assertFalse(s.bigEndian());
        // Page flip as bochs_hw_setbase does it: Y_OFFSET to the second buffer.
        r.write(INDEX_Y_OFFSET, 768);
        assertEquals(768L * 4096, r.scanout().offset());
        r.write(INDEX_ENABLE, 0);
        assertTrue(r.scanout().isOff());
    }

    @Test
    void valuesAreSixteenBits() {
        DispiRegisters r = new DispiRegisters(VRAM);
        r.write(INDEX_XRES, 0x12345);
        assertEquals(0x2345, r.read(INDEX_XRES));
    }

    @Test
    void getcapsReportsTheLimits() {
        DispiRegisters r = new DispiRegisters(VRAM);
        r.write(INDEX_XRES, 640);
        r.write(INDEX_ENABLE, GETCAPS);
        assertEquals(DisplayMode.MAX_EDGE, r.read(INDEX_XRES));
        assertEquals(DisplayMode.MAX_EDGE, r.read(INDEX_YRES));
        assertEquals(32, r.read(INDEX_BPP));
        r.write(INDEX_ENABLE, 0);
        assertEquals(640, r.read(INDEX_XRES));
    }

    @Test
    void otherDepthsAreOff() {
        DispiRegisters r = new DispiRegisters(VRAM);
        setMode(r, 800, 600);
        for (int bpp : new int[] {0, 8, 15, 16, 24, 31, 33, 0xffff}) {
            r.write(INDEX_BPP, bpp);
            assertTrue(r.scanout().isOff(), bpp + " bpp");
        }
    }

    @Test
    void hostileCombinationsAreOff() {
        DispiRegisters r = new DispiRegisters(VRAM);
        setMode(r, 1024, 768);
        r.write(INDEX_Y_OFFSET, 0xffff);
        assertTrue(r.scanout().isOff(), "offset past VRAM");
        r.write(INDEX_Y_OFFSET, 4096 - 768);
        assertFalse(r.scanout().isOff(), "the last screenful fits exactly");
        r.write(INDEX_X_OFFSET, 1);
        assertTrue(r.scanout().isOff(), "one pixel further does not");
        r.write(INDEX_X_OFFSET, 0);
        r.write(INDEX_Y_OFFSET, 0);
        r.write(INDEX_XRES, 0xffff);
        r.write(INDEX_YRES, 0xffff);
        assertTrue(r.scanout().isOff(), "65535 x 65535");
        r.write(INDEX_XRES, 0);
        r.write(INDEX_YRES, 768);
        assertTrue(r.scanout().isOff(), "zero width");
        r.write(INDEX_XRES, 4096);
        r.write(INDEX_YRES, 1024);
        assertFalse(r.scanout().isOff(), "4096x1024x4 = 16 MiB fits");
        r.write(INDEX_YRES, 1025);
        assertTrue(r.scanout().isOff());
    }

    @Test
    void virtualWidthBelowTheVisibleWidthCountsAsTheVisibleWidth() {
        DispiRegisters r = new DispiRegisters(VRAM);
        setMode(r, 1024, 768);
        r.write(INDEX_VIRT_WIDTH, 1);
        assertEquals(4096, r.scanout().stride());
        r.write(INDEX_VIRT_WIDTH, 2048);
        assertEquals(8192, r.scanout().stride());
        r.write(INDEX_VIRT_WIDTH, 0xffff);
        assertTrue(r.scanout().isOff(), "768 rows 256 KiB apart do not fit in 16 MiB");
    }

    @Test
    void endiannessTakesOnlyTheTwoPatterns() {
        DispiRegisters r = new DispiRegisters(VRAM);
        assertEquals(LITTLE_ENDIAN, r.endianness());
        r.setEndianness(0x12345678);
        assertEquals(LITTLE_ENDIAN, r.endianness());
        r.setEndianness(BIG_ENDIAN);
        setMode(r, 640, 480);
        assertTrue(r.scanout().bigEndian());
        r.reset();
        assertEquals(LITTLE_ENDIAN, r.endianness());
        assertTrue(r.scanout().isOff());
    }

    @Test
    void stateRoundTrips() {
        DispiRegisters r = new DispiRegisters(VRAM);
        setMode(r, 1280, 800);
        r.setEndianness(BIG_ENDIAN);
        DispiRegisters back = DispiRegisters.restore(VRAM, r.save());
        assertEquals(r.save(), back.save());
        assertEquals(r.scanout(), back.scanout());
        assertThrows(IllegalArgumentException.class, () -> new State(new int[COUNT], 7));
        assertThrows(IllegalArgumentException.class, () -> new State(new int[3], LITTLE_ENDIAN));
        int[] big = new int[COUNT];
        big[1] = 0x10000;
        assertThrows(IllegalArgumentException.class, () -> new State(big, LITTLE_ENDIAN));
    }

    @Test
    void refusesVramItCannotDescribe() {
        assertThrows(IllegalArgumentException.class, () -> new DispiRegisters(0));
        assertThrows(IllegalArgumentException.class, () -> new DispiRegisters(4096));
        assertThrows(IllegalArgumentException.class, () -> new DispiRegisters(1L << 32));
    }

    /** Whatever the guest writes, a scanout that is not OFF lies inside VRAM. */
    @Property(tries = 2000)
    void anyRegisterValuesStayInsideVram(@ForAll @IntRange(min = 0, max = 0xffff) int xres,
            @ForAll @IntRange(min = 0, max = 0xffff) int yres, @ForAll @IntRange(min = 0, max = 0xffff) int virtWidth,
            @ForAll @IntRange(min = 0, max = 0xffff) int xOff, @ForAll @IntRange(min = 0, max = 0xffff) int yOff,
            @ForAll @IntRange(min = 0, max = 0xffff) int enable) {
        DispiRegisters r = new DispiRegisters(VRAM);
        r.write(INDEX_BPP, 32);
        r.write(INDEX_XRES, xres);
        r.write(INDEX_YRES, yres);
        r.write(INDEX_VIRT_WIDTH, virtWidth);
        r.write(INDEX_X_OFFSET, xOff);
        r.write(INDEX_Y_OFFSET, yOff);
        r.write(INDEX_ENABLE, enable);
        Scanout s = r.scanout();
        if (!s.isOff()) {
            assertTrue(s.end() <= VRAM);
            assertTrue(s.stride() >= s.width() * 4L);
            assertEquals(xres, s.width());
            assertEquals(yres, s.height());
        }
    }
}
