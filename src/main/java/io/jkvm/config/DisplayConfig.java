package io.jkvm.config;

import java.util.Map;
import java.util.Set;

/**
 * A bochs-display framebuffer device ({@code --display}): the resolution its EDID offers the
 * guest as the preferred mode and the size of its VRAM.
 *
 * @param width preferred mode width in pixels, {@link #MIN_WIDTH}..{@link #MAX_EDGE}
 * @param height preferred mode height, {@link #MIN_HEIGHT}..{@link #MAX_EDGE}
 * @param vramBytes VRAM, a power of two from 4 MiB (the guest driver's minimum) to 1 GiB, large
 *     enough for two frames of the mode in whole 4 KiB pages (the driver only offers modes it can
 *     double-buffer)
 */
public record DisplayConfig(int width, int height, long vramBytes) {
    public static final int MIN_WIDTH = 320;
    public static final int MIN_HEIGHT = 200;
    /** An EDID detailed timing holds 12-bit sizes. */
    public static final int MAX_EDGE = 4095;
    public static final long MIN_VRAM = 4L << 20;
    public static final long MAX_VRAM = 1L << 30;
    public static final DisplayConfig DEFAULT = new DisplayConfig(1024, 768, 16L << 20);

    public DisplayConfig {
        if (width < MIN_WIDTH || width > MAX_EDGE) {
            throw new ConfigException("--display width " + width + ": must be " + MIN_WIDTH + ".." + MAX_EDGE);
        }
        if (height < MIN_HEIGHT || height > MAX_EDGE) {
            throw new ConfigException("--display height " + height + ": must be " + MIN_HEIGHT + ".." + MAX_EDGE);
        }
        if (Long.bitCount(vramBytes) != 1 || vramBytes < MIN_VRAM || vramBytes > MAX_VRAM) {
            throw new ConfigException("--display vram " + Size.format(vramBytes) + ": must be a power of two from "
                    + Size.format(MIN_VRAM) + " to " + Size.format(MAX_VRAM));
        }
        // The driver offers a mode only if two frames, in whole pages, fit (drm_vram_helper_mode_valid).
        long frame = ((long) width * height * 4 + 4095) / 4096 * 4096;
        if (2 * frame > vramBytes) {
            throw new ConfigException("--display " + width + "x" + height + ": needs vram of at least "
                    + Size.format(Long.highestOneBit(2 * frame - 1) << 1) + " (two frames of 4 bytes per pixel)");
        }
    }

    /** {@code [width=N][,height=N][,vram=SIZE]}, the rest from {@link #DEFAULT}; empty text is the default. */
    public static DisplayConfig parse(String text) {
        if (text == null || text.isEmpty()) {
            return DEFAULT;
        }
        Map<String, String> f = OptionList.parse("--display", text, Set.of("width", "height", "vram"));
        int w = f.containsKey("width") ? number("width", f.get("width")) : DEFAULT.width;
        int h = f.containsKey("height") ? number("height", f.get("height")) : DEFAULT.height;
        long vram = DEFAULT.vramBytes;
        if (f.containsKey("vram")) {
            try {
                vram = Size.parse(f.get("vram"));
            } catch (IllegalArgumentException e) {
                throw new ConfigException("--display vram: " + e.getMessage());
            }
        }
        return new DisplayConfig(w, h, vram);
    }

    private static int number(String key, String v) {
        if (v.length() > 6 || !v.chars().allMatch(Character::isDigit)) {
            throw new ConfigException("--display " + key + " '" + v + "': not a number of pixels");
        }
        return Integer.parseInt(v);
    }
}
