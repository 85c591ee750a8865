package io.jkvm.memory;

import java.util.List;

/**
 * Guest RAM cut into numbered chunks: each region from its start into {@code chunkSize} pieces
 * (its last one shorter), region after region in {@link GuestMemory#regions} order. Both ends of
 * anything that moves RAM by chunk number (a lazy fill and its source, a post-copy migration's
 * destination and source) derive the numbering from a machine of the same size through this one
 * class, so they cannot disagree on it.
 */
public final class RamChunks {
    private final List<GuestMemory.Region> regions;
    private final int chunkSize;
    /** Per region: the number of its first chunk; one more entry for the total. */
    private final int[] first;

    private RamChunks(List<GuestMemory.Region> regions, int chunkSize) {
        if (chunkSize <= 0 || chunkSize % 4096 != 0) {
            throw new IllegalArgumentException("chunk size must be a positive multiple of 4 KiB: " + chunkSize);
        }
        this.regions = List.copyOf(regions);
        this.chunkSize = chunkSize;
        first = new int[regions.size() + 1];
        long n = 0;
        for (int i = 0; i < regions.size(); i++) {
            first[i] = (int) n;
            n += (regions.get(i).size() + chunkSize - 1) / chunkSize;
            if (n > Integer.MAX_VALUE) {
                throw new IllegalArgumentException("guest RAM has more than 2^31 chunks of " + chunkSize + " bytes");
            }
        }
        first[regions.size()] = (int) n;
    }

    public static RamChunks of(GuestMemory memory, int chunkSize) {
        return new RamChunks(memory.regions(), chunkSize);
    }

    public int count() {
        return first[regions.size()];
    }

    /** The region holding chunk {@code index}. */
    public GuestMemory.Region region(int index) {
        return regions.get(regionIndex(index));
    }

    /** Chunk {@code index}'s offset in its region. */
    public long offset(int index) {
        return (long) (index - first[regionIndex(index)]) * chunkSize;
    }

    public long length(int index) {
        GuestMemory.Region r = region(index);
        return Math.min(chunkSize, r.size() - offset(index));
    }

    /** The chunk holding guest address {@code gpa}, or -1 outside guest RAM. */
    public int indexOf(long gpa) {
        for (int i = 0; i < regions.size(); i++) {
            GuestMemory.Region r = regions.get(i);
            if (gpa >= r.guestAddress() && gpa < r.end()) {
                return first[i] + (int) ((gpa - r.guestAddress()) / chunkSize);
            }
        }
        return -1;
    }

    private int regionIndex(int index) {
        if (index < 0 || index >= count()) {
            throw new IndexOutOfBoundsException("chunk " + index + " of " + count());
        }
        int i = 0;
        while (first[i + 1] <= index) {
            i++;
        }
        return i;
    }
}
