package io.jkvm.display.vnc;

/** A rectangle of pixels, {@code w} x {@code h} at ({@code x}, {@code y}); never negative. */
record Rect(int x, int y, int w, int h) {
    Rect {
        if (x < 0 || y < 0 || w < 0 || h < 0) {
            throw new IllegalArgumentException("negative rectangle " + x + "," + y + " " + w + "x" + h);
        }
    }

    boolean isEmpty() {
        return w == 0 || h == 0;
    }

    /**
     * A client's rectangle (16-bit fields, so any values up to 65535) cut to a
     * {@code width} x {@code height} screen; empty if it lies outside.
     */
    static Rect clamp(int x, int y, int w, int h, int width, int height) {
        int x0 = Math.min(x, width);
        int y0 = Math.min(y, height);
        int x1 = (int) Math.min((long) x + w, width);
        int y1 = (int) Math.min((long) y + h, height);
        return new Rect(x0, y0, Math.max(0, x1 - x0), Math.max(0, y1 - y0));
    }

    /** The smallest rectangle holding both (an empty one adds nothing). */
    Rect union(Rect o) {
        if (isEmpty()) {
            return o;
        }
        if (o.isEmpty()) {
            return this;
        }
        int x0 = Math.min(x, o.x);
        int y0 = Math.min(y, o.y);
        return new Rect(x0, y0, Math.max(x + w, o.x + o.w) - x0, Math.max(y + h, o.y + o.h) - y0);
    }
}
