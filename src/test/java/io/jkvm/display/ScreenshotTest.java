package io.jkvm.display;

import org.junit.jupiter.api.Test;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;

import static org.junit.jupiter.api.Assertions.*;

class ScreenshotTest {
    /** A 3x2 framebuffer with fixed pixels. */
    static final class Fixed implements Framebuffer {
        DisplayMode mode = new DisplayMode(3, 2);
        int[] pixels = {0xff0000, 0x00ff00, 0x0000ff, 0x000000, 0xffffff, 0x123456};
        int changesLeft;

        @Override
        public DisplayMode mode() {
            return mode;
        }

        @Override
        public void readPixels(int x, int y, int width, int height, int[] dst) {
            if (changesLeft > 0) {
                changesLeft--;
                throw new IllegalArgumentException("mode changed");
            }
            for (int r = 0; r < height; r++) {
                System.arraycopy(pixels, (y + r) * mode.width() + x, dst, r * width, width);
            }
        }

        @Override
        public Subscription subscribe(DamageListener listener) {
            return () -> {};
        }
    }

    static BufferedImage decode(byte[] png) throws IOException {
        assertEquals((byte) 0x89, png[0]);
        assertEquals('P', png[1]);
        assertEquals('N', png[2]);
        assertEquals('G', png[3]);
        return ImageIO.read(new ByteArrayInputStream(png));
    }

    @Test
    void pngHoldsThePixels() throws IOException {
        Fixed fb = new Fixed();
        BufferedImage img = decode(Screenshot.png(fb));
        assertEquals(3, img.getWidth());
        assertEquals(2, img.getHeight());
        for (int i = 0; i < 6; i++) {
            assertEquals(fb.pixels[i], img.getRGB(i % 3, i / 3) & 0xffffff, "pixel " + i);
        }
    }

    @Test
    void offIsABlackFallbackScreen() throws IOException {
        Fixed fb = new Fixed();
        fb.mode = DisplayMode.OFF;
        BufferedImage img = decode(Screenshot.png(fb));
        assertEquals(DisplayMode.FALLBACK.width(), img.getWidth());
        assertEquals(DisplayMode.FALLBACK.height(), img.getHeight());
        assertEquals(0, img.getRGB(10, 10) & 0xffffff);
    }

    @Test
    void aModeChangeDuringTheReadIsRetriedThenGivenUp() throws IOException {
        Fixed fb = new Fixed();
        fb.changesLeft = 1;
        assertEquals(3, decode(Screenshot.png(fb)).getWidth());
        fb.changesLeft = 10;
        assertThrows(IllegalStateException.class, () -> Screenshot.png(fb));
    }

    @Test
    void aModeLargerThanTheBudgetIsRefusedWithoutReadingPixels() {
        Framebuffer huge = new Framebuffer() {
            @Override
            public DisplayMode mode() {
                return new DisplayMode(16384, 16384); // a 1 GiB VRAM holds it
            }

            @Override
            public void readPixels(int x, int y, int width, int height, int[] dst) {
                fail("no pixels are read for a picture that is refused");
            }

            @Override
            public Subscription subscribe(DamageListener listener) {
                return () -> {};
            }
        };
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> Screenshot.png(huge));
        assertTrue(e.getMessage().contains("16384x16384"), e.getMessage());
    }

    @Test
    void aTallPictureIsReadInStripsAndAssembledInOrder() throws IOException {
        Fixed fb = new Fixed();
        fb.mode = new DisplayMode(2, 150); // three strips: 64, 64, 22 rows
        fb.pixels = new int[2 * 150];
        for (int i = 0; i < fb.pixels.length; i++) {
            fb.pixels[i] = i * 0x010203 & 0xffffff;
        }
        BufferedImage img = decode(Screenshot.png(fb));
        for (int i = 0; i < fb.pixels.length; i++) {
            assertEquals(fb.pixels[i], img.getRGB(i % 2, i / 2) & 0xffffff, "pixel " + i);
        }
    }
}
