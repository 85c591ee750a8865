package io.jkvm.storage;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * Grows a {@link Qcow2Image}'s refcount table when the file reaches clusters no refcount table
 * entry can describe (qcow2 spec, "Host cluster management": the table is contiguous, located by
 * the header fields refcount_table_offset and refcount_table_clusters).
 *
 * <p>The new table goes past the end of the file, after the new refcount blocks that describe
 * the clusters of the new area itself (its blocks and its table), so the area counts itself and
 * nothing needs the old table's coverage to be larger. The order on the file keeps every state
 * consistent or merely leaking: blocks, then the table, fsync; then the two header fields in one
 * 12-byte write (bytes 48..59), fsync. Until that write the old table is in force and the new
 * area is unreferenced (a leak {@code qemu-img check} reports, not an error); after it, the new
 * one is. The caller then frees the old table's clusters through the new table.
 */
final class RefcountTableGrowth {
    /** Header bytes 48..59: refcount_table_offset (be64), refcount_table_clusters (be32). */
    private static final long HEADER_REFTABLE_FIELDS = 48;

    /** The table in force after {@link #grow}: its entries, where it is, and the end of the area written. */
    record Grown(long[] table, long offset, long end) {}

    private final Qcow2Image image;
    private final ImageFile file;
    private final int clusterBits;
    private final long clusterSize;
    private final long blockEntries;
    private final int refcountBytes;

    RefcountTableGrowth(Qcow2Image image) {
        this.image = image;
        this.file = image.file();
        this.clusterBits = image.clusterBits();
        this.clusterSize = 1L << clusterBits;
        this.refcountBytes = image.refcountBytes();
        this.blockEntries = clusterSize / refcountBytes;
    }

    /** Grows the table so that entry {@code needIndex} exists; the header points at the new table on return. */
    Grown grow(long needIndex) throws IOException {
        long[] old = image.refcountTable();
        long perCluster = clusterSize / 8;
        long maxEntries = Qcow2Header.MAX_REFTABLE_BYTES / 8;
        long start = image.allocationStart();
        // Grow by half at least (as qemu does), so a file growing cluster by cluster rarely copies the table.
        long entries = roundUp(Math.max(needIndex + 1, old.length + old.length / 2), perCluster);
        List<Long> newBlocks;
        long tableClusters;
        while (true) {
            if (entries > maxEntries) {
                throw new IOException(image.what() + ": the refcount table would need " + entries + " entries, more than "
                        + "qcow2's limit of " + maxEntries + " (" + Qcow2Header.MAX_REFTABLE_BYTES + " bytes)");
            }
            tableClusters = entries / perCluster;
            // Fixpoint: the blocks for the area [start, start + (blocks + table) clusters) are part of the area.
            newBlocks = List.of();
            for (int round = 0; ; round++) {
                long end = start + (newBlocks.size() + tableClusters) * clusterSize;
                List<Long> need = blocksWithout(old, start, end);
                if (need.size() == newBlocks.size()) {
                    newBlocks = need;
                    break;
                }
                newBlocks = need;
                if (round > 64) {
                    throw new IOException(image.what() + ": cannot lay out a larger refcount table");
                }
            }
            long last = newBlocks.isEmpty() ? -1 : newBlocks.getLast();
            if (last < entries && needIndex < entries) {
                break;
            }
            entries = roundUp(Math.max(last, needIndex) + 1, perCluster);
        }
        long tableAt = start + newBlocks.size() * clusterSize;
        long end = tableAt + tableClusters * clusterSize;
        long[] table = java.util.Arrays.copyOf(old, (int) entries);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment block = arena.allocate(clusterSize, 8);
            for (int k = 0; k < newBlocks.size(); k++) {
                long index = newBlocks.get(k);
                block.fill((byte) 0);
                long first = index * blockEntries << clusterBits; // the first host cluster this block describes
                for (long c = Math.max(first, start); c < Math.min(end, first + (blockEntries << clusterBits)); c += clusterSize) {
                    long slot = ((c >>> clusterBits) - index * blockEntries) * refcountBytes;
                    block.set(ValueLayout.JAVA_BYTE, slot + refcountBytes - 1, (byte) 1);
                }
                long at = start + k * clusterSize;
                file.write(at, block);
                table[(int) index] = at;
            }
            // Clusters of the area that an existing block describes: counted there (still only a leak if we stop now).
            for (long c = start; c < end; c += clusterSize) {
                long index = (c >>> clusterBits) / blockEntries;
                if (!newBlocks.contains(index)) {
                    image.countOne(c);
                }
            }
            MemorySegment t = arena.allocate(tableClusters * clusterSize, 8);
            for (int i = 0; i < table.length; i++) {
                t.setAtIndex(Qcow2Image.BE_LONG, i, table[i]);
            }
            file.write(tableAt, t);
            file.flush();
            MemorySegment fields = arena.allocate(12);
            fields.set(Qcow2Image.BE_LONG, 0, tableAt);
            fields.set(ValueLayout.JAVA_INT_UNALIGNED.withOrder(java.nio.ByteOrder.BIG_ENDIAN), 8, (int) tableClusters);
            file.write(HEADER_REFTABLE_FIELDS, fields);
            file.flush();
        }
        return new Grown(table, tableAt, end);
    }

    /** Indexes of refcount blocks the clusters [start, end) need and {@code old} has no block for, ascending. */
    private List<Long> blocksWithout(long[] old, long start, long end) throws IOException {
        List<Long> need = new ArrayList<>();
        long firstIndex = (start >>> clusterBits) / blockEntries;
        long lastIndex = ((end - 1) >>> clusterBits) / blockEntries;
        for (long i = firstIndex; i <= lastIndex; i++) {
            if (i >= old.length || image.blockFor(i * blockEntries << clusterBits) == 0) {
                need.add(i);
            }
        }
        return need;
    }

    private static long roundUp(long v, long to) {
        return (v + to - 1) / to * to;
    }
}
