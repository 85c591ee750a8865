package io.jkvm.storage;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Writes the metadata of an empty qcow2 version 3 image (qemu docs/interop/qcow2.rst) into an
 * empty file: the header cluster, a refcount table, the refcount blocks that count the metadata,
 * and a zeroed L1 table sized for the virtual size. No data cluster and no L2 table exist yet;
 * every guest cluster reads from the backing file or as zeroes.
 *
 * <p>Layout, in clusters: header | refcount table | refcount blocks | L1 table. The refcount
 * table and blocks are sized together so that the blocks count every cluster of this layout,
 * themselves included ("Host cluster management"). Refcounts are 16 bits (refcount_order 4, the
 * spec's and qemu's default).
 */
final class Qcow2Creator {
    static final int REFCOUNT_ORDER = 4;
    private static final int REFCOUNT_BYTES = (1 << REFCOUNT_ORDER) / 8;
    private static final ValueLayout.OfInt BE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfLong BE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private Qcow2Creator() {}

    /** The L1 entries a virtual size needs: each covers one L2 table's worth of clusters ("Cluster mapping"). */
    static long l1Entries(long size, int clusterBits) {
        long perL1 = 1L << (clusterBits + clusterBits - 3);
        return Math.ceilDiv(size, perL1);
    }

    /** The largest virtual size an image of this cluster size can have: the L1 table is capped (qemu's 32 MiB). */
    static long maxSize(int clusterBits) {
        return (Qcow2Header.MAX_L1_BYTES / 8) << (clusterBits + clusterBits - 3);
    }

    /**
     * Writes an empty image of {@code size} bytes into {@code file} (empty, writable) and fsyncs it.
     * {@code backingName} (as it goes into the header) and {@code backingFormat} are both null or both set.
     */
    static void write(ImageFile file, long size, int clusterBits, String backingName, String backingFormat)
            throws IOException {
        long cluster = 1L << clusterBits;
        long l1 = l1Entries(size, clusterBits);
        long l1Clusters = Math.ceilDiv(l1 * 8, cluster);
        long blockEntries = cluster / REFCOUNT_BYTES;
        // Fixpoint: enough blocks to count the header, the table, the blocks and the L1 table.
        long tableClusters = 1;
        long blocks = 1;
        while (true) {
            long total = 1 + tableClusters + blocks + l1Clusters;
            long needBlocks = Math.ceilDiv(total, blockEntries);
            long needTable = Math.ceilDiv(needBlocks * 8, cluster);
            if (needBlocks <= blocks && needTable <= tableClusters) {
                break;
            }
            blocks = Math.max(blocks, needBlocks);
            tableClusters = Math.max(tableClusters, needTable);
        }
        if (tableClusters * cluster > Qcow2Header.MAX_REFTABLE_BYTES) {
            throw new IOException("qcow2 image " + file.path() + ": the metadata for " + size
                    + " bytes needs a refcount table over qcow2's limit; use a larger cluster size");
        }
        long tableAt = cluster;
        long blocksAt = tableAt + tableClusters * cluster;
        long l1At = blocksAt + blocks * cluster;
        long total = 1 + tableClusters + blocks + l1Clusters;

        try (Arena arena = Arena.ofConfined()) {
            file.write(0, headerCluster(arena, cluster, clusterBits, size, l1, l1At, tableAt, tableClusters,
                    backingName, backingFormat));
            MemorySegment c = arena.allocate(cluster, 8);
            // Refcount table: entry i points at block i.
            for (long t = 0; t < tableClusters; t++) {
                c.fill((byte) 0);
                for (long i = t * (cluster / 8); i < Math.min(blocks, (t + 1) * (cluster / 8)); i++) {
                    c.set(BE_LONG, (i - t * (cluster / 8)) * 8, blocksAt + i * cluster);
                }
                file.write(tableAt + t * cluster, c);
            }
            // Refcount blocks: clusters 0 .. total-1 have refcount 1, the rest 0.
            for (long b = 0; b < blocks; b++) {
                c.fill((byte) 0);
                for (long i = b * blockEntries; i < Math.min(total, (b + 1) * blockEntries); i++) {
                    c.set(ValueLayout.JAVA_BYTE, (i - b * blockEntries) * REFCOUNT_BYTES + REFCOUNT_BYTES - 1, (byte) 1);
                }
                file.write(blocksAt + b * cluster, c);
            }
            // L1 table: all entries 0 (no L2 tables); its last cluster is written whole, so the file ends on a cluster.
            c.fill((byte) 0);
            for (long k = 0; k < l1Clusters; k++) {
                file.write(l1At + k * cluster, c);
            }
        }
        file.flush();
    }

    /** Cluster 0: the version 3 header ("Header"), its extensions ("Header extensions"), then the backing name. */
    private static MemorySegment headerCluster(Arena arena, long cluster, int clusterBits, long size, long l1, long l1At,
            long tableAt, long tableClusters, String backingName, String backingFormat) throws IOException {
        MemorySegment h = arena.allocate(cluster, 8);
        h.set(BE_INT, 0, Qcow2Header.MAGIC);
        h.set(BE_INT, 4, 3); // version
        h.set(BE_INT, 20, clusterBits);
        h.set(BE_LONG, 24, size);
        h.set(BE_INT, 32, 0); // crypt_method: none
        h.set(BE_INT, 36, (int) l1);
        h.set(BE_LONG, 40, l1At);
        h.set(BE_LONG, 48, tableAt);
        h.set(BE_INT, 56, (int) tableClusters);
        // nb_snapshots, snapshots_offset, incompatible/compatible/autoclear features: all 0.
        h.set(BE_INT, 96, REFCOUNT_ORDER);
        h.set(BE_INT, 100, Qcow2Header.V3_HEADER); // header_length: 104, no compression_type field (deflate)
        long pos = Qcow2Header.V3_HEADER;
        if (backingFormat != null) {
            byte[] f = backingFormat.getBytes(StandardCharsets.US_ASCII);
            h.set(BE_INT, pos, Qcow2Header.EXT_BACKING_FORMAT);
            h.set(BE_INT, pos + 4, f.length);
            MemorySegment.copy(f, 0, h, ValueLayout.JAVA_BYTE, pos + 8, f.length);
            pos += 8 + ((f.length + 7) & ~7); // extension data is padded to a multiple of 8
        }
        pos += 8; // the end-of-extensions marker: type 0, length 0 (already zero)
        if (backingName != null) {
            byte[] n = backingName.getBytes(StandardCharsets.UTF_8);
            if (n.length == 0 || n.length > Qcow2Header.MAX_BACKING_NAME || pos + n.length > cluster) {
                throw new IOException("backing file name '" + backingName + "' is " + n.length
                        + " bytes; it must be 1.." + Math.min(Qcow2Header.MAX_BACKING_NAME, cluster - pos)
                        + " bytes for a qcow2 header with " + cluster + "-byte clusters");
            }
            // The name is not NUL-terminated; it follows the extensions in cluster 0.
            MemorySegment.copy(n, 0, h, ValueLayout.JAVA_BYTE, pos, n.length);
            h.set(BE_LONG, 8, pos);
            h.set(BE_INT, 16, n.length);
        }
        return h;
    }
}
