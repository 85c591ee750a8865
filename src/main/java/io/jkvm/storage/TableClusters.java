package io.jkvm.storage;

import java.util.Arrays;

/**
 * The host clusters of a qcow2 image that hold its L2 tables and refcount blocks, so a guest
 * write whose L2 entry (hostile or corrupt) points at one can be refused instead of overwriting
 * the image's own metadata (qcow2 "Cluster mapping": such an image is corrupt; qemu calls the
 * same guard its overlap check).
 *
 * <p>A sorted, de-duplicated array of cluster numbers: its size is bounded by the L1 and refcount
 * tables it was built from, which the header checks already bound (a hash set of boxed longs would
 * cost ten times the tables themselves). Tables added later (a new L2 table or refcount block, a
 * rare event: one per 512 MiB of guest writes with 64 KiB clusters) are inserted in place.
 */
final class TableClusters {
    private final int clusterBits;
    private long[] sorted;
    private int size;

    private TableClusters(int clusterBits, long[] sorted, int size) {
        this.clusterBits = clusterBits;
        this.sorted = sorted;
        this.size = size;
    }

    /** The clusters named by the non-zero {@code offsets} (file offsets; masked by {@code mask}). */
    static TableClusters of(int clusterBits, long mask, long[]... offsets) {
        int n = 0;
        for (long[] t : offsets) {
            n += t.length;
        }
        long[] all = new long[Math.max(n, 1)];
        int k = 0;
        for (long[] t : offsets) {
            for (long e : t) {
                long at = e & mask;
                if (at != 0) {
                    all[k++] = at >>> clusterBits;
                }
            }
        }
        Arrays.sort(all, 0, k);
        int u = 0;
        for (int i = 0; i < k; i++) {
            if (u == 0 || all[u - 1] != all[i]) {
                all[u++] = all[i];
            }
        }
        return new TableClusters(clusterBits, all, u);
    }

    /** Whether the cluster holding file offset {@code offset} is a table cluster. */
    boolean contains(long offset) {
        return Arrays.binarySearch(sorted, 0, size, offset >>> clusterBits) >= 0;
    }

    /** Records that the cluster at file offset {@code offset} now holds a table. */
    void add(long offset) {
        long c = offset >>> clusterBits;
        int i = Arrays.binarySearch(sorted, 0, size, c);
        if (i >= 0) {
            return;
        }
        int at = -i - 1;
        if (size == sorted.length) {
            sorted = Arrays.copyOf(sorted, Math.max(4, size + (size >> 1)));
        }
        System.arraycopy(sorted, at, sorted, at + 1, size - at);
        sorted[at] = c;
        size++;
    }

    int size() {
        return size;
    }
}
