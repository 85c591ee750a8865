package io.jkvm.device.display;

import io.jkvm.display.DisplayMode;

/**
 * What the display scans out now: a {@code width} x {@code height} rectangle of 32-bit pixels
 * starting {@code offset} bytes into VRAM, rows {@code stride} bytes apart, each pixel's bytes in
 * the given order (little endian: B, G, R, X in memory). Only ever built from register values
 * that were checked to stay inside VRAM ({@link DispiRegisters#scanout}), or {@link #OFF}.
 */
public record Scanout(int width, int height, long offset, long stride, boolean bigEndian) {
    public static final Scanout OFF = new Scanout(0, 0, 0, 0, false);
    public static final int BYTES_PER_PIXEL = 4;

    public Scanout {
        new DisplayMode(width, height); // range check
        if (offset < 0 || stride < (long) width * BYTES_PER_PIXEL) {
            throw new IllegalArgumentException("scanout offset " + offset + " / stride " + stride + " invalid for width " + width);
        }
    }

    public DisplayMode mode() {
        return width == 0 ? DisplayMode.OFF : new DisplayMode(width, height);
    }

    public boolean isOff() {
        return width == 0;
    }

    /** One past the last VRAM byte this scanout reads. */
    public long end() {
        return isOff() ? 0 : offset + (height - 1L) * stride + (long) width * BYTES_PER_PIXEL;
    }
}
