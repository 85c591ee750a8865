package io.jkvm.device.virtio;

/** Device-independent feature bits (virtio 1.2 §6 "Reserved Feature Bits"). */
public final class VirtioFeatures {
    private VirtioFeatures() {}

    /** §2.7.5.3: descriptors may point at indirect descriptor tables. */
    public static final int RING_INDIRECT_DESC = 28;
    /** §2.7.10: used_event / avail_event notification suppression. */
    public static final int RING_EVENT_IDX = 29;
    /** §6: compliance with virtio 1.x; the modern PCI transport requires it. */
    public static final int VERSION_1 = 32;

    /** Features every jkvm device offers in addition to its own. */
    public static final long TRANSPORT = bit(VERSION_1) | bit(RING_EVENT_IDX) | bit(RING_INDIRECT_DESC);

    public static long bit(int n) {
        return 1L << n;
    }

    public static boolean has(long features, int n) {
        return (features & bit(n)) != 0;
    }
}
