package io.jkvm.device.display;

/**
 * Where a display's VRAM appears in the guest's physical address space, and the log of the
 * guest's writes to it. Map and unmap run on the vCPU thread that programs the BAR;
 * {@link #collectDirty} on the framebuffer's polling thread.
 */
public interface VramMapping extends AutoCloseable {
    /**
     * Makes VRAM appear at {@code guestAddress} (replacing an earlier mapping).
     *
     * @throws RuntimeException if the address cannot take it (overlaps RAM or another slot); the
     *     device then leaves the BAR unmapped
     */
    void map(long guestAddress);

    /** Withdraws the mapping; idempotent. */
    void unmap();

    /** As {@link ScanoutSource#collectDirty}. */
    boolean collectDirty(long[] bitmap);

    /** Unmaps and frees what the mapping holds. */
    @Override
    void close();
}
