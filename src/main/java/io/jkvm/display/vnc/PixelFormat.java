package io.jkvm.display.vnc;

import java.nio.ByteBuffer;

/**
 * An RFB true-colour pixel format (RFC 6143 section 7.4): how a client wants each pixel laid out
 * on the wire. The server converts from the framebuffer's {@code 0x00RRGGBB} into it, scaling each
 * 8-bit channel to the client's maximum and shifting it into place.
 *
 * <p>Colour-map formats (true-colour flag 0) are not representable: {@link #parse} refuses them,
 * since a server would then have to send SetColourMapEntries and keep a palette per client.
 */
public record PixelFormat(int bitsPerPixel, int depth, boolean bigEndian,
                          int redMax, int greenMax, int blueMax,
                          int redShift, int greenShift, int blueShift) {
    /** What the server offers in ServerInit: 32 bits, 0x00RRGGBB in little-endian order. */
    public static final PixelFormat DEFAULT = new PixelFormat(32, 24, false, 255, 255, 255, 16, 8, 0);

    /** Size of the format on the wire, including its 3 padding bytes. */
    public static final int WIRE_BYTES = 16;

    public PixelFormat {
        if (bitsPerPixel != 8 && bitsPerPixel != 16 && bitsPerPixel != 32) {
            throw new IllegalArgumentException("pixel format: bits-per-pixel must be 8, 16 or 32, not " + bitsPerPixel);
        }
        if (depth < 0 || depth > bitsPerPixel) {
            throw new IllegalArgumentException("pixel format: depth " + depth + " exceeds " + bitsPerPixel + " bits");
        }
        checkChannel("red", redMax, redShift, bitsPerPixel);
        checkChannel("green", greenMax, greenShift, bitsPerPixel);
        checkChannel("blue", blueMax, blueShift, bitsPerPixel);
    }

    private static void checkChannel(String name, int max, int shift, int bpp) {
        if (max < 0 || max > 0xffff || shift < 0 || shift > 31) {
            throw new IllegalArgumentException("pixel format: " + name + " max " + max + " shift " + shift + " out of range");
        }
        // The channel's largest value, shifted into place, must fit in the pixel.
        if (((long) max << shift) >>> bpp != 0) {
            throw new IllegalArgumentException("pixel format: " + name + " max " + max + " << " + shift
                    + " does not fit in " + bpp + " bits");
        }
    }

    /**
     * Reads the 16 wire bytes of a PIXEL_FORMAT at {@code in}'s position.
     *
     * @throws IllegalArgumentException for a colour-map format or impossible values
     */
    public static PixelFormat parse(ByteBuffer in) {
        int bpp = in.get() & 0xff;
        int depth = in.get() & 0xff;
        boolean big = in.get() != 0;
        boolean trueColour = in.get() != 0;
        int rMax = in.getShort() & 0xffff;
        int gMax = in.getShort() & 0xffff;
        int bMax = in.getShort() & 0xffff;
        int rShift = in.get() & 0xff;
        int gShift = in.get() & 0xff;
        int bShift = in.get() & 0xff;
        in.position(in.position() + 3);
        if (!trueColour) {
            throw new IllegalArgumentException("pixel format: colour-map formats are not supported (true-colour only)");
        }
        return new PixelFormat(bpp, depth, big, rMax, gMax, bMax, rShift, gShift, bShift);
    }

    /** Writes the 16 wire bytes (true-colour flag set). */
    public void write(ByteBuffer out) {
        out.put((byte) bitsPerPixel).put((byte) depth).put((byte) (bigEndian ? 1 : 0)).put((byte) 1)
                .putShort((short) redMax).putShort((short) greenMax).putShort((short) blueMax)
                .put((byte) redShift).put((byte) greenShift).put((byte) blueShift)
                .put((byte) 0).put((byte) 0).put((byte) 0);
    }

    public int bytesPerPixel() {
        return bitsPerPixel / 8;
    }

    /** The pixel value (not yet byte-ordered) for {@code 0x00RRGGBB}. */
    public int pixel(int rgb) {
        return scale((rgb >>> 16) & 0xff, redMax) << redShift
                | scale((rgb >>> 8) & 0xff, greenMax) << greenShift
                | scale(rgb & 0xff, blueMax) << blueShift;
    }

    /** An 8-bit channel value scaled to 0..max, rounding to nearest (0 stays 0, 255 becomes max). */
    static int scale(int v8, int max) {
        return (v8 * max + 127) / 255;
    }

    /** Stores {@code pixel} in {@link #bytesPerPixel()} bytes at {@code dst[off]}, in this format's byte order. */
    public void store(int pixel, byte[] dst, int off) {
        switch (bitsPerPixel) {
            case 8 -> dst[off] = (byte) pixel;
            case 16 -> {
                if (bigEndian) {
                    dst[off] = (byte) (pixel >>> 8);
                    dst[off + 1] = (byte) pixel;
                } else {
                    dst[off] = (byte) pixel;
                    dst[off + 1] = (byte) (pixel >>> 8);
                }
            }
            default -> {
                if (bigEndian) {
                    dst[off] = (byte) (pixel >>> 24);
                    dst[off + 1] = (byte) (pixel >>> 16);
                    dst[off + 2] = (byte) (pixel >>> 8);
                    dst[off + 3] = (byte) pixel;
                } else {
                    dst[off] = (byte) pixel;
                    dst[off + 1] = (byte) (pixel >>> 8);
                    dst[off + 2] = (byte) (pixel >>> 16);
                    dst[off + 3] = (byte) (pixel >>> 24);
                }
            }
        }
    }
}
