package io.jkvm.device.display;

/**
 * What a {@link VramFramebuffer} asks the device behind it: the current scanout and which VRAM
 * pages the guest wrote. Called on the framebuffer's polling thread and on client threads.
 */
public interface ScanoutSource {
    /** The validated scanout now ({@link Scanout#OFF} when the guest shows nothing). */
    Scanout scanout();

    /**
     * Clears {@code bitmap} (one bit per 4 KiB VRAM page, page {@code i} is bit {@code i % 64} of
     * word {@code i / 64}) and sets the pages written since the previous call. Returns false when
     * that is not known (the mapping moved, so earlier writes were not logged): every page counts
     * as written.
     */
    boolean collectDirty(long[] bitmap);
}
