package io.jkvm.display.vnc;

/**
 * The encodings this server speaks (RFC 6143 section 7.7) and how it writes rectangles in them.
 * Pixels arrive as {@code 0x00RRGGBB} and leave in the client's {@link PixelFormat}.
 */
final class Encodings {
    static final int RAW = 0;
    static final int HEXTILE = 5;
    /** Pseudo-encoding: the client can follow a change of the framebuffer's size (section 7.8.2). */
    static final int DESKTOP_SIZE = -223;

    // Hextile subencoding mask bits (section 7.7.4).
    static final int HEXTILE_RAW = 1;
    static final int HEXTILE_BACKGROUND = 2;
    static final int HEXTILE_TILE = 16;

    private Encodings() {}

    /** A rectangle header: position, size and encoding. */
    static void header(WireOut out, int x, int y, int w, int h, int encoding) {
        out.u16(x).u16(y).u16(w).u16(h).u32(encoding);
    }

    /** The pixels {@code rgb[0 .. w*h)} as Raw: every pixel, row by row. */
    static void raw(WireOut out, PixelFormat pf, int[] rgb, int w, int h) {
        int bpp = pf.bytesPerPixel();
        int n = w * h;
        int at = out.reserve(n * bpp);
        byte[] dst = out.array();
        for (int i = 0; i < n; i++) {
            pf.store(pf.pixel(rgb[i]), dst, at + i * bpp);
        }
    }

    /**
     * The pixels as Hextile: 16x16 tiles left to right, top to bottom. A tile of one colour is a
     * background colour (one byte when it repeats the previous tile's background, which carries
     * over between tiles of a rectangle); any other tile is sent raw. Screens are mostly flat
     * colour, so this alone shrinks them several-fold, without the subrectangle search.
     */
    static void hextile(WireOut out, PixelFormat pf, int[] rgb, int w, int h) {
        int bpp = pf.bytesPerPixel();
        boolean haveBackground = false;
        int background = 0;
        for (int ty = 0; ty < h; ty += HEXTILE_TILE) {
            int th = Math.min(HEXTILE_TILE, h - ty);
            for (int tx = 0; tx < w; tx += HEXTILE_TILE) {
                int tw = Math.min(HEXTILE_TILE, w - tx);
                int first = rgb[ty * w + tx];
                if (solid(rgb, w, tx, ty, tw, th, first)) {
                    if (haveBackground && background == first) {
                        out.u8(0);
                    } else {
                        out.u8(HEXTILE_BACKGROUND);
                        int at = out.reserve(bpp); // before array(): reserving may grow it
                        pf.store(pf.pixel(first), out.array(), at);
                        background = first;
                        haveBackground = true;
                    }
                } else {
                    out.u8(HEXTILE_RAW);
                    int at = out.reserve(tw * th * bpp);
                    byte[] dst = out.array();
                    for (int row = 0; row < th; row++) {
                        int src = (ty + row) * w + tx;
                        for (int col = 0; col < tw; col++) {
                            pf.store(pf.pixel(rgb[src + col]), dst, at);
                            at += bpp;
                        }
                    }
                    // A raw tile specifies no background; name it again next time rather than rely on
                    // every decoder carrying the older one across it.
                    haveBackground = false;
                }
            }
        }
    }

    private static boolean solid(int[] rgb, int w, int tx, int ty, int tw, int th, int colour) {
        for (int row = 0; row < th; row++) {
            int src = (ty + row) * w + tx;
            for (int col = 0; col < tw; col++) {
                if (rgb[src + col] != colour) {
                    return false;
                }
            }
        }
        return true;
    }
}
