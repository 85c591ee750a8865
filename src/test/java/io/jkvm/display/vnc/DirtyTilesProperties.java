package io.jkvm.display.vnc;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

class DirtyTilesProperties {
    @Property
    void takingEverythingCoversEveryDamagedPixelWithinTheScreen(
            @ForAll @IntRange(min = 1, max = 400) int width, @ForAll @IntRange(min = 1, max = 400) int height,
            @ForAll @Size(max = 20) List<@IntRange(min = -100, max = 600) Integer> coords) {
        DirtyTiles d = new DirtyTiles(width, height);
        List<Rect> drained = new ArrayList<>();
        d.take(new Rect(0, 0, width, height), drained::add);
        assertThat(d.isEmpty()).isTrue();
        List<int[]> damage = new ArrayList<>();
        for (int i = 0; i + 3 < coords.size(); i += 4) {
            int[] r = {coords.get(i), coords.get(i + 1), coords.get(i + 2), coords.get(i + 3)};
            damage.add(r);
            d.add(r[0], r[1], r[2], r[3]);
        }
        List<Rect> rects = new ArrayList<>();
        d.take(new Rect(0, 0, width, height), rects::add);
        assertThat(d.isEmpty()).isTrue();
        assertThat(rects.size()).isLessThanOrEqualTo(d.maxRects());
        boolean[] covered = new boolean[width * height];
        for (Rect r : rects) {
            assertThat(r.x() + r.w()).isLessThanOrEqualTo(width);
            assertThat(r.y() + r.h()).isLessThanOrEqualTo(height);
            assertThat(r.isEmpty()).isFalse();
            for (int y = r.y(); y < r.y() + r.h(); y++) {
                for (int x = r.x(); x < r.x() + r.w(); x++) {
                    assertThat(covered[y * width + x]).as("rectangles overlap").isFalse();
                    covered[y * width + x] = true;
                }
            }
        }
        for (int[] r : damage) {
            for (int y = Math.max(0, r[1]); y < Math.min(height, r[1] + Math.max(0, r[3])); y++) {
                for (int x = Math.max(0, r[0]); x < Math.min(width, r[0] + Math.max(0, r[2])); x++) {
                    assertThat(covered[y * width + x]).isTrue();
                }
            }
        }
    }

    @Property
    void takingAnAreaLeavesTheRestDirty(@ForAll @IntRange(min = 0, max = 639) int x, @ForAll @IntRange(min = 0, max = 479) int y) {
        DirtyTiles d = new DirtyTiles(640, 480);
        Rect one = new Rect(x, y, 1, 1);
        assertThat(d.intersects(one)).isTrue();
        List<Rect> rects = new ArrayList<>();
        d.take(one, rects::add);
        assertThat(rects).containsExactly(new Rect(x / 64 * 64, y / 64 * 64, 64, Math.min(64, 480 - y / 64 * 64)));
        assertThat(d.intersects(one)).isFalse();
        assertThat(d.isEmpty()).isFalse();
    }

    @Property
    void clampKeepsClientRectanglesInsideTheScreen(@ForAll @IntRange(max = 65535) int x, @ForAll @IntRange(max = 65535) int y,
                                                   @ForAll @IntRange(max = 65535) int w, @ForAll @IntRange(max = 65535) int h) {
        Rect r = Rect.clamp(x, y, w, h, 1024, 768);
        assertThat(r.x() + r.w()).isLessThanOrEqualTo(1024);
        assertThat(r.y() + r.h()).isLessThanOrEqualTo(768);
    }
}
