package io.jkvm.device.display;

import java.nio.charset.StandardCharsets;

/**
 * A 128-byte EDID base block (VESA E-EDID Standard, Release A Revision 2, structure version 1.4)
 * describing a flat panel whose native (preferred) mode is one given resolution, so a guest that
 * reads it comes up in the VM's configured size.
 *
 * <p>Layout (§3): the fixed 8-byte header, vendor/product, version 1.4, a digital input, the sRGB
 * chromaticity, no established or standard timings (§3.8/§3.9 fill the unused standard timing
 * slots with 01h 01h), four 18-byte descriptors: the preferred detailed timing first (§3.10.2,
 * "preferred timing mode" is bit 1 of the feature byte), the monitor name, two dummy descriptors;
 * then the extension count (0) and the checksum byte that makes the 128 bytes sum to 0 mod 256.
 *
 * <p>The detailed timing is a reduced-blanking style timing at 60 Hz (horizontal blank 160
 * pixels, vertical blank 23 lines). A detailed timing holds 12-bit active sizes and a 16-bit
 * pixel clock in 10 kHz units: sizes above 4095 do not fit, and a mode whose 60 Hz clock does not
 * fit gets the highest clock that does (a lower refresh rate, which a virtual display does not
 * care about).
 */
public final class Edid {
    public static final int LENGTH = 128;
    /** Largest active edge a detailed timing descriptor can carry (12 bits). */
    public static final int MAX_EDGE = 4095;

    static final byte[] HEADER = {0, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0};
    static final int H_BLANK = 160;
    static final int H_FRONT_PORCH = 48;
    static final int H_SYNC = 32;
    static final int V_BLANK = 23;
    static final int V_FRONT_PORCH = 3;
    static final int V_SYNC = 6;
    static final int REFRESH_HZ = 60;
    /** Dots per inch the physical size is derived from (a common desktop panel density). */
    static final int DPI = 96;

    static final int DESCRIPTOR_0 = 54;
    static final int DESCRIPTOR_LENGTH = 18;

    private Edid() {}

    /** The EDID of a {@code width} x {@code height} panel (each 1..{@link #MAX_EDGE}). */
    public static byte[] forMode(int width, int height) {
        if (width < 1 || height < 1 || width > MAX_EDGE || height > MAX_EDGE) {
            throw new IllegalArgumentException("EDID mode " + width + "x" + height + " outside 1.." + MAX_EDGE);
        }
        byte[] e = new byte[LENGTH];
        System.arraycopy(HEADER, 0, e, 0, HEADER.length);
        // Manufacturer ID: three letters, 5 bits each ('A' = 1), big-endian (§3.4.1): "JKV".
        int mfg = (('J' - '@') << 10) | (('K' - '@') << 5) | ('V' - '@');
        e[8] = (byte) (mfg >> 8);
        e[9] = (byte) mfg;
        e[10] = 0x01; // product code, little-endian
        e[11] = 0x00;
        // Serial number 0 (bytes 12-15): none. Week 0, year 2026 (offset from 1990).
        e[17] = (byte) (2026 - 1990);
        e[18] = 1; // version 1
        e[19] = 4; // revision 4
        e[20] = (byte) 0xa5; // digital, 8 bits per primary, DisplayPort (§3.6.1)
        int mmWide = millimetres(width);
        int mmHigh = millimetres(height);
        e[21] = (byte) Math.clamp(Math.round(mmWide / 10.0), 1, 255);
        e[22] = (byte) Math.clamp(Math.round(mmHigh / 10.0), 1, 255);
        e[23] = 120; // gamma 2.2: (2.2 * 100) - 100
        e[24] = 0x06; // RGB 4:4:4, sRGB default colour space, preferred timing is the native mode
        chromaticity(e);
        // Established timings (35-37) none; standard timings (38-53) unused.
        for (int i = 38; i < 54; i++) {
            e[i] = 0x01;
        }
        detailedTiming(e, DESCRIPTOR_0, width, height, mmWide, mmHigh);
        name(e, DESCRIPTOR_0 + DESCRIPTOR_LENGTH, "jkvm display");
        dummy(e, DESCRIPTOR_0 + 2 * DESCRIPTOR_LENGTH);
        dummy(e, DESCRIPTOR_0 + 3 * DESCRIPTOR_LENGTH);
        e[126] = 0; // no extension blocks
        e[127] = (byte) -sum(e, 127);
        return e;
    }

    /** Sum of the first {@code n} bytes, mod 256. */
    static int sum(byte[] e, int n) {
        int s = 0;
        for (int i = 0; i < n; i++) {
            s += e[i] & 0xff;
        }
        return s & 0xff;
    }

    private static int millimetres(int pixels) {
        return (int) Math.round(pixels * 25.4 / DPI);
    }

    /** sRGB primaries and D65 white point (IEC 61966-2-1) as 10-bit binary fractions (§3.7). */
    private static void chromaticity(byte[] e) {
        double[] xy = {0.640, 0.330, 0.300, 0.600, 0.150, 0.060, 0.3127, 0.3290};
        int[] v = new int[xy.length];
        for (int i = 0; i < xy.length; i++) {
            v[i] = (int) Math.round(xy[i] * 1024);
        }
        e[25] = (byte) (((v[0] & 3) << 6) | ((v[1] & 3) << 4) | ((v[2] & 3) << 2) | (v[3] & 3));
        e[26] = (byte) (((v[4] & 3) << 6) | ((v[5] & 3) << 4) | ((v[6] & 3) << 2) | (v[7] & 3));
        for (int i = 0; i < v.length; i++) {
            e[27 + i] = (byte) (v[i] >> 2);
        }
    }

    /** Detailed timing descriptor (§3.10.2, Table 3.21). */
    private static void detailedTiming(byte[] e, int at, int width, int height, int mmWide, int mmHigh) {
        long total = (long) (width + H_BLANK) * (height + V_BLANK);
        long clock10k = Math.min(0xffff, Math.max(1, (total * REFRESH_HZ + 5_000) / 10_000));
        e[at] = (byte) clock10k;
        e[at + 1] = (byte) (clock10k >> 8);
        e[at + 2] = (byte) width;
        e[at + 3] = (byte) H_BLANK;
        e[at + 4] = (byte) (((width >> 8) << 4) | (H_BLANK >> 8));
        e[at + 5] = (byte) height;
        e[at + 6] = (byte) V_BLANK;
        e[at + 7] = (byte) (((height >> 8) << 4) | (V_BLANK >> 8));
        e[at + 8] = (byte) H_FRONT_PORCH;
        e[at + 9] = (byte) H_SYNC;
        e[at + 10] = (byte) (((V_FRONT_PORCH & 0xf) << 4) | (V_SYNC & 0xf));
        e[at + 11] = (byte) (((H_FRONT_PORCH >> 8) << 6) | ((H_SYNC >> 8) << 4) | ((V_FRONT_PORCH >> 4) << 2) | (V_SYNC >> 4));
        int w = Math.min(mmWide, 0xfff);
        int h = Math.min(mmHigh, 0xfff);
        e[at + 12] = (byte) w;
        e[at + 13] = (byte) h;
        e[at + 14] = (byte) (((w >> 8) << 4) | (h >> 8));
        e[at + 15] = 0; // no borders
        e[at + 16] = 0;
        e[at + 17] = 0x1e; // non-interlaced, digital separate sync, both syncs positive
    }

    /** Display product name descriptor (tag FCh): up to 13 characters, LF-terminated, space-padded (§3.10.3.4). */
    private static void name(byte[] e, int at, String name) {
        e[at + 3] = (byte) 0xfc;
        byte[] text = name.getBytes(StandardCharsets.US_ASCII);
        int n = Math.min(13, text.length);
        for (int i = 0; i < 13; i++) {
            e[at + 5 + i] = i < n ? text[i] : (i == n ? (byte) 0x0a : (byte) 0x20);
        }
    }

    /** Dummy descriptor (tag 10h, §3.10.3.11). */
    private static void dummy(byte[] e, int at) {
        e[at + 3] = 0x10;
    }

    /** The preferred mode a block describes, decoded from its first detailed timing (for tests and diagnostics). */
    public record Timing(int width, int height, int pixelClockKhz) {}

    /**
     * Decodes the first descriptor of {@code edid} as a detailed timing.
     *
     * @throws IllegalArgumentException if the block is not a valid base block or the first descriptor is not a timing
     */
    public static Timing preferredTiming(byte[] edid) {
        if (edid.length != LENGTH || sum(edid, LENGTH) != 0) {
            throw new IllegalArgumentException("not a 128-byte EDID block with a valid checksum");
        }
        for (int i = 0; i < HEADER.length; i++) {
            if (edid[i] != HEADER[i]) {
                throw new IllegalArgumentException("EDID header byte " + i + " is wrong");
            }
        }
        int at = DESCRIPTOR_0;
        int clock = (edid[at] & 0xff) | (edid[at + 1] & 0xff) << 8;
        if (clock == 0) {
            throw new IllegalArgumentException("the first descriptor is not a detailed timing");
        }
        int w = (edid[at + 2] & 0xff) | ((edid[at + 4] & 0xf0) << 4);
        int h = (edid[at + 5] & 0xff) | ((edid[at + 7] & 0xf0) << 4);
        return new Timing(w, h, clock * 10);
    }
}
