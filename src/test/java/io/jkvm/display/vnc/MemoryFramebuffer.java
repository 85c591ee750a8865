package io.jkvm.display.vnc;

import io.jkvm.display.DamageListener;
import io.jkvm.display.DisplayMode;
import io.jkvm.display.Framebuffer;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** A framebuffer in a Java array; changes are reported to subscribers on the caller's thread. */
final class MemoryFramebuffer implements Framebuffer {
    private final List<DamageListener> listeners = new CopyOnWriteArrayList<>();
    private volatile DisplayMode mode;
    private volatile int[] pixels;

    MemoryFramebuffer(int width, int height) {
        mode = new DisplayMode(width, height);
        pixels = new int[width * height];
    }

    @Override
    public DisplayMode mode() {
        return mode;
    }

    @Override
    public synchronized void readPixels(int x, int y, int width, int height, int[] dst) {
        DisplayMode m = mode;
        if (x < 0 || y < 0 || width < 0 || height < 0 || x + width > m.width() || y + height > m.height()
                || dst.length < width * height) {
            throw new IllegalArgumentException("outside the mode");
        }
        for (int row = 0; row < height; row++) {
            System.arraycopy(pixels, (y + row) * m.width() + x, dst, row * width, width);
        }
    }

    @Override
    public Subscription subscribe(DamageListener listener) {
        listeners.add(listener);
        return () -> listeners.remove(listener);
    }

    int subscribers() {
        return listeners.size();
    }

    int pixel(int x, int y) {
        return pixels[y * mode.width() + x];
    }

    /** Paints a rectangle and reports it. */
    void fill(int x, int y, int w, int h, int rgb) {
        synchronized (this) {
            int width = mode.width();
            for (int row = y; row < y + h; row++) {
                java.util.Arrays.fill(pixels, row * width + x, row * width + x + w, rgb);
            }
        }
        for (DamageListener l : listeners) {
            l.damaged(x, y, w, h);
        }
    }

    /** Sets one pixel without reporting it. */
    synchronized void set(int x, int y, int rgb) {
        pixels[y * mode.width() + x] = rgb;
    }

    void setMode(DisplayMode m) {
        synchronized (this) {
            mode = m;
            pixels = new int[m.width() * m.height()];
        }
        for (DamageListener l : listeners) {
            l.modeChanged(m);
        }
    }
}
