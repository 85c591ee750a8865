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
    static final int HEXTILE_FOREGROUND = 4;
    static final int HEXTILE_ANY_SUBRECTS = 8;
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
     * over between tiles of a rectangle). A tile of two colours (text on a console) is the more
     * common one as background and runs of the other as foreground subrectangles, when that is
     * smaller than raw. Any other tile is sent raw.
     */
    static void hextile(WireOut out, PixelFormat pf, int[] rgb, int w, int h) {
        int bpp = pf.bytesPerPixel();
        boolean haveBackground = false;
        int background = 0;
        long written;
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
                } else if ((written = twoColours(out, pf, rgb, w, tx, ty, tw, th, haveBackground, background)) >= 0) {
                    background = (int) written;
                    haveBackground = true;
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

    /**
     * Writes a two-colour tile as background plus foreground subrectangles (one per run of
     * foreground pixels in a row, a run repeated in the next rows growing downwards), if the tile
     * has exactly two colours and that is smaller than raw. Returns the tile's background colour
     * (as an unsigned value), or -1 having written nothing.
     */
    private static long twoColours(WireOut out, PixelFormat pf, int[] rgb, int w, int tx, int ty, int tw, int th,
                                   boolean haveBackground, int background) {
        int a = rgb[ty * w + tx];
        int b = 0;
        boolean haveB = false;
        int countA = 0;
        for (int row = 0; row < th; row++) {
            int src = (ty + row) * w + tx;
            for (int col = 0; col < tw; col++) {
                int c = rgb[src + col];
                if (c == a) {
                    countA++;
                } else if (!haveB) {
                    b = c;
                    haveB = true;
                } else if (c != b) {
                    return -1;
                }
            }
        }
        int bg = countA * 2 >= tw * th ? a : b;
        int fg = bg == a ? b : a;
        // Subrectangles: per row, runs of fg; a run at the same column and width as one ending on
        // the row above extends it. Packed as (x << 4 | y, (w - 1) << 4 | (h - 1)).
        int[] subX = new int[256];
        int[] subY = new int[256];
        int[] subW = new int[256];
        int[] subH = new int[256];
        int n = 0;
        for (int row = 0; row < th; row++) {
            int src = (ty + row) * w + tx;
            int col = 0;
            while (col < tw) {
                if (rgb[src + col] != fg) {
                    col++;
                    continue;
                }
                int start = col;
                while (col < tw && rgb[src + col] == fg) {
                    col++;
                }
                int extended = -1;
                for (int i = n - 1; i >= 0 && extended < 0; i--) {
                    if (subX[i] == start && subW[i] == col - start && subY[i] + subH[i] == row) {
                        extended = i;
                    }
                }
                if (extended >= 0) {
                    subH[extended]++;
                } else {
                    if (n == 255) {
                        return -1;
                    }
                    subX[n] = start;
                    subY[n] = row;
                    subW[n] = col - start;
                    subH[n] = 1;
                    n++;
                }
            }
        }
        int bpp = pf.bytesPerPixel();
        boolean sendBackground = !haveBackground || bg != background;
        int size = 1 + (sendBackground ? bpp : 0) + bpp + 1 + 2 * n;
        if (size >= 1 + tw * th * bpp) {
            return -1;
        }
        out.u8((sendBackground ? HEXTILE_BACKGROUND : 0) | HEXTILE_FOREGROUND | HEXTILE_ANY_SUBRECTS);
        if (sendBackground) {
            int at = out.reserve(bpp);
            pf.store(pf.pixel(bg), out.array(), at);
        }
        int at = out.reserve(bpp);
        pf.store(pf.pixel(fg), out.array(), at);
        out.u8(n);
        for (int i = 0; i < n; i++) {
            out.u8(subX[i] << 4 | subY[i]).u8((subW[i] - 1) << 4 | (subH[i] - 1));
        }
        return bg & 0xffffffffL;
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
