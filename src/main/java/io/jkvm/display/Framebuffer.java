package io.jkvm.display;

/**
 * The guest's screen as the host sees it: the current mode, its pixels, and damage reports.
 *
 * <p>Pixels are handed out as {@code int}s {@code 0x00RRGGBB}, whatever the device's own format,
 * so consumers (VNC, screenshots) convert once. Reads are snapshots of guest-writable memory:
 * the guest may be changing it at the same time, so a read can show a torn frame, which the next
 * damage report corrects.
 *
 * <p>Damage is tracked only while at least one listener is subscribed, so an idle VM with nobody
 * watching pays nothing; with subscribers the framebuffer polls for changes at a bounded rate and
 * reports nothing when nothing changed.
 */
public interface Framebuffer {
    DisplayMode mode();

    /**
     * Copies the rectangle ({@code x}, {@code y}, {@code width}, {@code height}), which must lie
     * inside {@link #mode()}, into {@code dst} row by row ({@code dst[row * width + col]}).
     *
     * @throws IllegalArgumentException if the rectangle is outside the current mode or {@code dst}
     *     is too small (the mode may have just changed: callers re-read {@link #mode()})
     */
    void readPixels(int x, int y, int width, int height, int[] dst);

    /** Starts reporting damage to {@code listener}; closing the handle stops it. */
    Subscription subscribe(DamageListener listener);

    /** Ends one {@link #subscribe} registration; idempotent. */
    interface Subscription extends AutoCloseable {
        @Override
        void close();
    }
}
