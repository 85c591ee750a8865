package io.jkvm.device.display;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.*;

class EdidTest {
    @Test
    void defaultModeIsTheFirstDetailedTimingOfAValidBlock() {
        byte[] e = Edid.forMode(1024, 768);
        assertEquals(128, e.length);
        assertArrayEquals(new byte[] {0, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0},
                java.util.Arrays.copyOf(e, 8));
        assertEquals(0, Edid.sum(e, 128), "checksum: all 128 bytes sum to 0 mod 256");
        assertEquals(1, e[18]);
        assertEquals(4, e[19]);
        assertEquals(0, e[126], "no extensions");
        assertEquals(0x02, e[24] & 0x02, "preferred timing mode is native");
        Edid.Timing t = Edid.preferredTiming(e);
        assertEquals(1024, t.width());
        assertEquals(768, t.height());
        // (1024 + 160) * (768 + 23) * 60 Hz = 56.2 MHz
        assertEquals(56190, t.pixelClockKhz());
        // Manufacturer "JKV": 01010 01011 10110
        assertEquals(0x29, e[8] & 0xff);
        assertEquals(0x76, e[9] & 0xff);
        // Second descriptor: display name "jkvm display\n"
        assertEquals(0xfc, e[72 + 3] & 0xff);
        assertEquals("jkvm display\n", new String(e, 72 + 5, 13, java.nio.charset.StandardCharsets.US_ASCII));
    }

    @Test
    void wideModesUseTheUpperNibbles() {
        Edid.Timing t = Edid.preferredTiming(Edid.forMode(3840, 2160));
        assertEquals(3840, t.width());
        assertEquals(2160, t.height());
        assertEquals(523920, t.pixelClockKhz(), "(3840 + 160) * (2160 + 23) * 60 Hz");
        Edid.Timing max = Edid.preferredTiming(Edid.forMode(4095, 4095));
        assertEquals(4095, max.width());
        assertEquals(4095, max.height());
        assertEquals(655350, max.pixelClockKhz(), "a 60 Hz clock above 655.35 MHz is capped (a lower refresh)");
    }

    @Test
    void refusesModesADetailedTimingCannotHold() {
        assertThrows(IllegalArgumentException.class, () -> Edid.forMode(4096, 768));
        assertThrows(IllegalArgumentException.class, () -> Edid.forMode(0, 768));
        assertThrows(IllegalArgumentException.class, () -> Edid.forMode(1024, -1));
    }

    @Test
    void decoderRefusesBrokenBlocks() {
        byte[] e = Edid.forMode(800, 600);
        e[100] ^= 1;
        assertThrows(IllegalArgumentException.class, () -> Edid.preferredTiming(e));
        assertThrows(IllegalArgumentException.class, () -> Edid.preferredTiming(new byte[127]));
    }

    @Property
    void everyModeRoundTrips(@ForAll @IntRange(min = 1, max = 4095) int w, @ForAll @IntRange(min = 1, max = 4095) int h) {
        byte[] e = Edid.forMode(w, h);
        assertEquals(0, Edid.sum(e, 128));
        Edid.Timing t = Edid.preferredTiming(e);
        assertEquals(w, t.width());
        assertEquals(h, t.height());
        assertTrue(t.pixelClockKhz() > 0);
        assertTrue(e[21] != 0 && e[22] != 0, "a physical size is given");
    }
}
