package io.jkvm.display;

/**
 * Told what changed on a {@link Framebuffer}. Called on the framebuffer's own thread (never a
 * vCPU thread); implementations must return quickly (record the rectangle, wake a sender) and must
 * not call back into the framebuffer from here.
 */
public interface DamageListener {
    /** Pixels in this rectangle (inside the current mode) may have changed. */
    void damaged(int x, int y, int width, int height);

    /** The mode changed: everything is damaged, and earlier rectangles no longer apply. */
    void modeChanged(DisplayMode mode);
}
