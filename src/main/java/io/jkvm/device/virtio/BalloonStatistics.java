package io.jkvm.device.virtio;

import java.util.Arrays;

/**
 * The memory statistics a balloon driver last reported (virtio 1.2 §5.5.6.3): one value per tag
 * the device knows, and which of them were ever reported. A report that leaves a tag out keeps
 * the tag's earlier value, so a driver that sends only some tags does not erase the others.
 *
 * @param present bit {@code t} set when tag {@code t} has been reported
 * @param values the value of each tag (index = tag), {@link #TAGS} long
 */
public record BalloonStatistics(int present, long[] values) {
    /** Tags 0 (VIRTIO_BALLOON_S_SWAP_IN) to 15 (S_DIRECT_RECLAIM); §5.5.6.3 lists 0-9, Linux 6.12 adds 10-15. */
    public static final int TAGS = 16;
    /** Bytes of one {@code struct virtio_balloon_stat}: le16 tag, le64 value, packed (§5.5.6.3). */
    public static final int ENTRY_BYTES = 10;

    public static final BalloonStatistics NONE = new BalloonStatistics(0, new long[TAGS]);

    public BalloonStatistics {
        if (values.length != TAGS) {
            throw new IllegalArgumentException(values.length + " statistic values, expected " + TAGS);
        }
        if ((present & ~((1 << TAGS) - 1)) != 0) {
            throw new IllegalArgumentException("statistics presence mask 0x" + Integer.toHexString(present)
                    + " names unknown tags");
        }
        values = values.clone();
    }

    /** Whether {@code tag} has been reported. */
    public boolean has(int tag) {
        return tag >= 0 && tag < TAGS && (present & (1 << tag)) != 0;
    }

    /** The value of {@code tag}, or null when it was never reported. */
    public Long value(int tag) {
        return has(tag) ? values[tag] : null;
    }

    /** These statistics with {@code tag} set to {@code value} (unknown tags are ignored, §5.5.6.3). */
    public BalloonStatistics with(int tag, long value) {
        if (tag < 0 || tag >= TAGS) {
            return this;
        }
        long[] v = values.clone();
        v[tag] = value;
        return new BalloonStatistics(present | (1 << tag), v);
    }

    @Override
    public long[] values() {
        return values.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof BalloonStatistics s && s.present == present && Arrays.equals(s.values, values);
    }

    @Override
    public int hashCode() {
        return 31 * present + Arrays.hashCode(values);
    }

    @Override
    public String toString() {
        return "BalloonStatistics[present=0x" + Integer.toHexString(present) + ", values=" + Arrays.toString(values) + "]";
    }
}
