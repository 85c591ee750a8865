package io.jkvm.display.vnc;

import java.util.BitSet;
import java.util.function.Consumer;

/**
 * What one client has not yet been sent: a fixed grid of {@value #TILE}-pixel tiles over the
 * screen, one bit each. However many damage reports arrive, the state stays one bit per tile (at
 * most 256 x 256 bits for the largest mode), and an update never has more rectangles than the grid
 * has tiles: dirty tiles are sent as horizontal runs, one rectangle per run.
 *
 * <p>Not thread-safe: the owning client guards it.
 */
final class DirtyTiles {
    static final int TILE = 64;

    private int width;
    private int height;
    private int cols;
    private int rows;
    private BitSet bits;

    DirtyTiles(int width, int height) {
        resize(width, height);
    }

    /** Starts over for a screen of this size, everything dirty (a new mode needs a full repaint). */
    void resize(int width, int height) {
        this.width = width;
        this.height = height;
        this.cols = (width + TILE - 1) / TILE;
        this.rows = (height + TILE - 1) / TILE;
        this.bits = new BitSet(cols * rows);
        bits.set(0, cols * rows);
    }

    int width() {
        return width;
    }

    int height() {
        return height;
    }

    /** Marks the tiles touching the rectangle; the part outside the screen is ignored. */
    void add(int x, int y, int w, int h) {
        int x0 = Math.max(0, x);
        int y0 = Math.max(0, y);
        long x1 = Math.min((long) width, (long) x + Math.max(0, w));
        long y1 = Math.min((long) height, (long) y + Math.max(0, h));
        if (x0 >= x1 || y0 >= y1) {
            return;
        }
        int c0 = x0 / TILE;
        int c1 = (int) ((x1 - 1) / TILE);
        for (int r = y0 / TILE; r <= (y1 - 1) / TILE; r++) {
            bits.set(r * cols + c0, r * cols + c1 + 1);
        }
    }

    void addAll() {
        bits.set(0, cols * rows);
    }

    boolean isEmpty() {
        return bits.isEmpty();
    }

    /** True if a dirty tile touches the rectangle (already clamped to the screen). */
    boolean intersects(Rect area) {
        if (area.isEmpty()) {
            return false;
        }
        int c0 = area.x() / TILE;
        int c1 = (area.x() + area.w() - 1) / TILE;
        for (int r = area.y() / TILE; r <= (area.y() + area.h() - 1) / TILE; r++) {
            int next = bits.nextSetBit(r * cols + c0);
            if (next >= 0 && next <= r * cols + c1) {
                return true;
            }
        }
        return false;
    }

    /**
     * Hands out, and clears, the dirty tiles touching {@code area}, as rectangles of whole tiles
     * (cut at the screen's edge), one per horizontal run. Tiles outside {@code area} stay dirty.
     */
    void take(Rect area, Consumer<Rect> out) {
        if (area.isEmpty()) {
            return;
        }
        int c0 = area.x() / TILE;
        int c1 = (area.x() + area.w() - 1) / TILE;
        for (int r = area.y() / TILE; r <= (area.y() + area.h() - 1) / TILE; r++) {
            int base = r * cols;
            int c = c0;
            while (c <= c1) {
                int start = bits.nextSetBit(base + c);
                if (start < 0 || start > base + c1) {
                    break;
                }
                int end = Math.min(bits.nextClearBit(start), base + c1 + 1);
                bits.clear(start, end);
                int px = (start - base) * TILE;
                int py = r * TILE;
                int pw = Math.min((end - base) * TILE, width) - px;
                int ph = Math.min(py + TILE, height) - py;
                out.accept(new Rect(px, py, pw, ph));
                c = end - base;
            }
        }
    }

    /** Most rectangles {@link #take} can produce for this screen (every other tile dirty). */
    int maxRects() {
        return rows * ((cols + 1) / 2);
    }
}
