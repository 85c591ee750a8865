package io.jkvm.display;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * A PNG of what a {@link Framebuffer} shows now. The mode is read once and the pixels in one
 * {@link Framebuffer#readPixels} call, retried if the guest changed the mode in between; a
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

    /** The current picture as an image (OFF: black, {@link DisplayMode#FALLBACK} sized). */
    public static BufferedImage capture(Framebuffer fb) {
        IllegalArgumentException last = null;
        for (int i = 0; i < ATTEMPTS; i++) {
            DisplayMode mode = fb.mode();
            if (mode.isOff()) {
                return new BufferedImage(DisplayMode.FALLBACK.width(), DisplayMode.FALLBACK.height(), BufferedImage.TYPE_INT_RGB);
            }
            int[] pixels = new int[Math.multiplyExact(mode.width(), mode.height())];
            try {
                fb.readPixels(0, 0, mode.width(), mode.height(), pixels);
            } catch (IllegalArgumentException e) {
                last = e; // the mode changed under us: read it again
                continue;
            }
            BufferedImage image = new BufferedImage(mode.width(), mode.height(), BufferedImage.TYPE_INT_RGB);
            image.setRGB(0, 0, mode.width(), mode.height(), pixels, 0, mode.width());
            return image;
        }
        throw new IllegalStateException("the display kept changing its mode while being captured", last);
    }
}
