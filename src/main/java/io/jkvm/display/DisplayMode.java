package io.jkvm.display;

/**
 * The guest's current scanout: its size in pixels, or {@link #OFF} while the guest has not
 * enabled a mode (a screen with no pixels, which VNC shows as a 0x0 desktop is not allowed, so
 * servers show a blank {@link #FALLBACK} of this size instead).
 */
public record DisplayMode(int width, int height) {
    /** Largest edge accepted anywhere (bochs dispi and RFB both fit in 16 bits). */
    public static final int MAX_EDGE = 16384;

    public static final DisplayMode OFF = new DisplayMode(0, 0);

    /** What a consumer shows while the mode is OFF. */
    public static final DisplayMode FALLBACK = new DisplayMode(640, 480);

    public DisplayMode {
        if (width < 0 || height < 0 || width > MAX_EDGE || height > MAX_EDGE) {
            throw new IllegalArgumentException("display mode out of range: " + width + "x" + height);
        }
        if ((width == 0) != (height == 0)) {
            throw new IllegalArgumentException("display mode has one zero edge: " + width + "x" + height);
        }
    }

    public boolean isOff() {
        return width == 0;
    }
}
