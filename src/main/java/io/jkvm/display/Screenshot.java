package io.jkvm.display;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * A PNG of what a {@link Framebuffer} shows now. The mode is read once and the pixels in strips
 * of rows, retried if the guest changed the mode meanwhile; a
 * display that is OFF gives a black {@link DisplayMode#FALLBACK}-sized image, as VNC shows it.
 */
public final class Screenshot {
    private static final int ATTEMPTS = 3;

    private Screenshot() {}

    /** PNG bytes of {@code fb}'s current picture (RGB, 8 bits per channel). */
    public static byte[] png(Framebuffer fb) {
        BufferedImage image = capture(fb);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            if (!ImageIO.write(image, "png", out)) {
                throw new IllegalStateException("this JDK has no PNG writer");
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }

    /**
     * The largest picture taken, in pixels (3840x2160). The guest picks the mode, up to what its
     * VRAM holds (a 1 GiB VRAM holds a 16384x16384 mode); the picture lives on the VMM's small
     * heap, so a larger mode is refused rather than allowed to exhaust it.
     */
    static final long MAX_PIXELS = 3840L * 2160;
    /** Rows read per {@link Framebuffer#readPixels} call: the only buffer besides the image. */
    private static final int STRIP_ROWS = 64;
    /** One picture at a time per VMM: concurrent requests do not multiply the memory. */
    private static final java.util.concurrent.Semaphore ONE_AT_A_TIME = new java.util.concurrent.Semaphore(1);

    /** The current picture as an image (OFF: black, {@link DisplayMode#FALLBACK} sized). */
    public static BufferedImage capture(Framebuffer fb) {
        if (!ONE_AT_A_TIME.tryAcquire()) {
            throw new IllegalStateException("another screenshot is being taken: try again");
        }
        try {
            return captureAlone(fb);
        } finally {
            ONE_AT_A_TIME.release();
        }
    }

    private static BufferedImage captureAlone(Framebuffer fb) {
        IllegalArgumentException last = null;
        for (int i = 0; i < ATTEMPTS; i++) {
            DisplayMode mode = fb.mode();
            if (mode.isOff()) {
                return new BufferedImage(DisplayMode.FALLBACK.width(), DisplayMode.FALLBACK.height(), BufferedImage.TYPE_INT_RGB);
            }
            if ((long) mode.width() * mode.height() > MAX_PIXELS) {
                throw new IllegalStateException("the display's mode " + mode.width() + "x" + mode.height()
                        + " is larger than a screenshot may be (" + MAX_PIXELS + " pixels)");
            }
            BufferedImage image = new BufferedImage(mode.width(), mode.height(), BufferedImage.TYPE_INT_RGB);
            int[] strip = new int[mode.width() * Math.min(STRIP_ROWS, mode.height())];
            try {
                for (int y = 0; y < mode.height(); y += STRIP_ROWS) {
                    int rows = Math.min(STRIP_ROWS, mode.height() - y);
                    fb.readPixels(0, y, mode.width(), rows, strip);
                    image.setRGB(0, y, mode.width(), rows, strip, 0, mode.width());
                }
            } catch (IllegalArgumentException e) {
                last = e; // the mode changed under us: read it again
                continue;
            }
            if (!fb.mode().equals(mode)) {
                continue; // changed between strips: a torn picture is not one
            }
            return image;
        }
        throw new IllegalStateException("the display kept changing its mode while being captured", last);
    }
}
