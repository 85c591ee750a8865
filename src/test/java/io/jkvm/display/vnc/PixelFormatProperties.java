package io.jkvm.display.vnc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

class PixelFormatProperties {
    /** Any true-colour format with non-overlapping channels of 1..10 bits, in any order and placement. */
    @Provide
    Arbitrary<PixelFormat> formats() {
        return Combinators.combine(
                Arbitraries.of(8, 16, 32), Arbitraries.integers().between(1, 10),
                Arbitraries.integers().between(1, 10), Arbitraries.integers().between(1, 10),
                Arbitraries.integers().between(0, 5), Arbitraries.integers().between(0, 1000),
                Arbitraries.of(true, false)).as((bpp, rb, gb, bb, order, slack, big) -> {
                    int[] bits = {rb, gb, bb};
                    int total = rb + gb + bb;
                    if (total > bpp) {
                        // shrink to fit 8 bits: 3-3-2 at worst
                        bits = new int[] {Math.min(rb, bpp / 3 + (bpp % 3 > 0 ? 1 : 0)), Math.min(gb, bpp / 3), 0};
                        bits[2] = Math.max(1, Math.min(bb, bpp - bits[0] - bits[1]));
                        total = bits[0] + bits[1] + bits[2];
                    }
                    int[][] orders = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
                    int[] shift = new int[3];
                    int spare = bpp - total;
                    int at = slack % (spare + 1);
                    for (int c : orders[order]) {
                        shift[c] = at;
                        at += bits[c];
                    }
                    return new PixelFormat(bpp, Math.min(bpp, total), big,
                            (1 << bits[0]) - 1, (1 << bits[1]) - 1, (1 << bits[2]) - 1, shift[0], shift[1], shift[2]);
                });
    }

    private static int decode(PixelFormat pf, byte[] b) {
        int v = 0;
        int n = pf.bytesPerPixel();
        for (int i = 0; i < n; i++) {
            int byteAt = pf.bigEndian() ? i : n - 1 - i;
            v = (v << 8) | (b[byteAt] & 0xff);
        }
        return v;
    }

    @Property
    void eachChannelIsItsValueScaledToTheMax(@ForAll("formats") PixelFormat pf,
                                             @ForAll @IntRange(max = 0xffffff) int rgb) {
        byte[] b = new byte[4];
        pf.store(pf.pixel(rgb), b, 0);
        int v = decode(pf, b);
        int r = (v >>> pf.redShift()) & pf.redMax();
        int g = (v >>> pf.greenShift()) & pf.greenMax();
        int bl = (v >>> pf.blueShift()) & pf.blueMax();
        assertThat(Math.abs(r * 255.0 / pf.redMax() - ((rgb >> 16) & 255))).isLessThanOrEqualTo(127.5 / pf.redMax() + 1e-9);
        assertThat(Math.abs(g * 255.0 / pf.greenMax() - ((rgb >> 8) & 255))).isLessThanOrEqualTo(127.5 / pf.greenMax() + 1e-9);
        assertThat(Math.abs(bl * 255.0 / pf.blueMax() - (rgb & 255))).isLessThanOrEqualTo(127.5 / pf.blueMax() + 1e-9);
        // Nothing outside the three channels is set.
        int used = pf.redMax() << pf.redShift() | pf.greenMax() << pf.greenShift() | pf.blueMax() << pf.blueShift();
        assertThat(v & ~used).isZero();
        // Bytes beyond the pixel's size are untouched.
        for (int i = pf.bytesPerPixel(); i < 4; i++) {
            assertThat(b[i]).isZero();
        }
    }

    @Property
    void blackIsZeroAndWhiteIsEveryChannelAtItsMax(@ForAll("formats") PixelFormat pf) {
        assertThat(pf.pixel(0)).isZero();
        assertThat(pf.pixel(0xffffff)).isEqualTo(
                pf.redMax() << pf.redShift() | pf.greenMax() << pf.greenShift() | pf.blueMax() << pf.blueShift());
    }

    @Property
    void scalingIsMonotoneAndExactAtTheEnds(@ForAll @IntRange(max = 255) int a, @ForAll @IntRange(max = 255) int b,
                                            @ForAll @IntRange(max = 0xffff) int max) {
        assertThat(PixelFormat.scale(0, max)).isZero();
        assertThat(PixelFormat.scale(255, max)).isEqualTo(max);
        if (a <= b) {
            assertThat(PixelFormat.scale(a, max)).isLessThanOrEqualTo(PixelFormat.scale(b, max));
        }
        assertThat(PixelFormat.scale(a, 255)).isEqualTo(a);
    }

    @Property
    void wireFormatRoundTrips(@ForAll("formats") PixelFormat pf) {
        ByteBuffer b = ByteBuffer.allocate(PixelFormat.WIRE_BYTES);
        pf.write(b);
        assertThat(PixelFormat.parse(b.flip())).isEqualTo(pf);
    }

    @Property
    void parseRefusesAnythingImpossibleWithAnIllegalArgument(@ForAll byte[] sixteen) {
        if (sixteen.length < PixelFormat.WIRE_BYTES) {
            return;
        }
        try {
            PixelFormat pf = PixelFormat.parse(ByteBuffer.wrap(sixteen));
            assertThat(pf.bitsPerPixel()).isIn(8, 16, 32);
            assertThat(sixteen[3]).isNotZero();
        } catch (IllegalArgumentException refused) {
            assertThat(refused).hasMessageStartingWith("pixel format:");
        }
    }

    @Property
    void colourMapFormatsAreRefused(@ForAll("formats") PixelFormat pf) {
        ByteBuffer b = ByteBuffer.allocate(PixelFormat.WIRE_BYTES);
        pf.write(b);
        b.put(3, (byte) 0);
        assertThatThrownBy(() -> PixelFormat.parse(b.flip())).hasMessageContaining("colour-map");
    }
}
