package io.jkvm.device.display;

import io.jkvm.display.DamageListener;
import io.jkvm.display.DisplayMode;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

import java.lang.foreign.Arena;
import java.time.Duration;
import java.util.BitSet;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Damage from dirty pages, against a brute-force answer: every row a written page overlaps is
 * reported, and no row is reported unless a written page touches its stride-wide slot.
 */
class VramDamageProperties {
    static final long VRAM = 4L << 20;

    @Property(tries = 300)
    void rowsCoverTheWrittenPagesAndNoMore(@ForAll @IntRange(min = 1, max = 1024) int width,
            @ForAll @IntRange(min = 1, max = 768) int height, @ForAll @IntRange(min = 0, max = 256) int pad,
            @ForAll @IntRange(min = 0, max = 1024) int yOffset, @ForAll @Size(max = 40) List<@IntRange(min = 0, max = 1023) Integer> pages) {
        long stride = (width + pad) * 4L;
        long offset = yOffset * stride;
        long end = offset + (height - 1L) * stride + width * 4L;
        if (end > VRAM) {
            return;
        }
        Scanout scanout = new Scanout(width, height, offset, stride, false);
        try (Arena a = Arena.ofConfined()) {
            VramFramebufferTest.FakeSource src = new VramFramebufferTest.FakeSource();
            src.scanout = scanout;
            try (VramFramebuffer fb = new VramFramebuffer(Vram.over(a.allocate(VRAM, 4096)), Duration.ofSeconds(1), false)) {
                fb.attach(src);
                BitSet reported = new BitSet();
                fb.subscribe(new DamageListener() {
                    @Override
                    public void damaged(int x, int y, int w, int h) {
                        assertThat(x).isZero();
                        assertThat(w).isEqualTo(width);
                        assertThat(y).isGreaterThanOrEqualTo(0);
                        assertThat(y + h).isLessThanOrEqualTo(height);
                        reported.set(y, y + h);
                    }

                    @Override
                    public void modeChanged(DisplayMode mode) {}
                });
                fb.poll(); // the mode
                src.dirtyPages.addAll(pages);
                fb.poll();
                for (int row = 0; row < height; row++) {
                    long rowStart = offset + row * stride;
                    boolean pixels = false;
                    boolean slot = false;
                    for (int p : pages) {
                        long lo = p * 4096L;
                        long hi = lo + 4096;
                        pixels |= lo < rowStart + width * 4L && hi > rowStart;
                        slot |= lo < rowStart + stride && hi > rowStart;
                    }
                    if (pixels) {
                        assertThat(reported.get(row)).as("row %d has written pixels", row).isTrue();
                    }
                    if (!slot) {
                        assertThat(reported.get(row)).as("row %d was not written", row).isFalse();
                    }
                }
            }
        }
    }
}
