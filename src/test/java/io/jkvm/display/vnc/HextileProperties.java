package io.jkvm.display.vnc;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

class HextileProperties {
    /**
     * Screens painted from a small palette (flat areas, two-colour text-like tiles, busier ones)
     * decode back to the same pixels with an independent Hextile decoder that knows every
     * subencoding.
     */
    @Property
    void hextileDecodesToTheSamePixels(@ForAll @IntRange(min = 1, max = 70) int w, @ForAll @IntRange(min = 1, max = 70) int h,
                                       @ForAll @Size(min = 1, max = 4) List<@IntRange(max = 0xffffff) Integer> palette,
                                       @ForAll long seed, @ForAll @IntRange(min = 0, max = 100) int busy) throws Exception {
        Random r = new Random(seed);
        int[] rgb = new int[w * h];
        int colour = palette.get(0);
        for (int i = 0; i < rgb.length; i++) {
            if (r.nextInt(100) < busy) {
                colour = palette.get(r.nextInt(palette.size()));
            }
            rgb[i] = colour;
        }
        WireOut out = new WireOut();
        out.u8(0x5a); // something before: the encoder appends
        Encodings.hextile(out, PixelFormat.DEFAULT, rgb, w, h);
        byte[] body = java.util.Arrays.copyOfRange(out.array(), 1, out.size());
        assertThat(out.array()[0]).isEqualTo((byte) 0x5a);
        assertThat(RfbTestClient.decodeHextile(body, w, h)).isEqualTo(rgb);
        // Never larger than every tile raw plus its subencoding byte.
        int tiles = ((w + 15) / 16) * ((h + 15) / 16);
        assertThat(body.length).isLessThanOrEqualTo(tiles + w * h * 4);
    }

    @Property
    void aTextLikeTileIsMuchSmallerThanRaw(@ForAll long seed) throws Exception {
        Random r = new Random(seed);
        int[] rgb = new int[16 * 16];
        // A glyph-like pattern: a few vertical and horizontal strokes in white on black.
        for (int s = 0; s < 3; s++) {
            int x = r.nextInt(14);
            for (int y = 2; y < 14; y++) {
                rgb[y * 16 + x] = 0xffffff;
            }
        }
        int y = r.nextInt(16);
        for (int x = 2; x < 12; x++) {
            rgb[y * 16 + x] = 0xffffff;
        }
        WireOut out = new WireOut();
        Encodings.hextile(out, PixelFormat.DEFAULT, rgb, 16, 16);
        byte[] body = java.util.Arrays.copyOf(out.array(), out.size());
        assertThat(RfbTestClient.decodeHextile(body, 16, 16)).isEqualTo(rgb);
        assertThat(body.length).isLessThan(16 * 16 * 4 / 8);
    }
}
