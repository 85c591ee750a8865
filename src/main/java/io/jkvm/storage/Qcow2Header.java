package io.jkvm.storage;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

/**
 * A validated qcow2 header (qemu docs/interop/qcow2.txt, "Header" and "Header extensions"),
 * versions 2 and 3. Every field comes from a file someone else wrote, so each is checked before
 * it sizes anything or points anywhere: tables must be cluster-aligned and inside the file, the
 * L1 table must cover the virtual size, and the tables we load are capped in size. A refusal is
 * an {@link IOException} naming the field.
 *
 * @param backingFile the backing file name as stored, or null
 * @param backingFormat the backing format extension's value ("raw", "qcow2", ...), or null
 */
record Qcow2Header(
        int version,
        int clusterBits,
        long size,
        long l1Offset,
        int l1Size,
        long refcountTableOffset,
        int refcountTableClusters,
        int snapshots,
        long incompatible,
        long compatible,
        long autoclear,
        int refcountOrder,
        int headerLength,
        String backingFile,
        String backingFormat,
        Map<Integer, String> incompatibleNames) {

    static final int MAGIC = 0x514649fb; // "QFI\xfb"
    static final int V2_HEADER = 72;
    static final int V3_HEADER = 104;
    static final int MIN_CLUSTER_BITS = 9;
    static final int MAX_CLUSTER_BITS = 21; // 2 MiB, qemu's limit
    /** qemu's caps (QCOW_MAX_L1_SIZE, QCOW_MAX_REFTABLE_SIZE): we load both tables whole. */
    static final long MAX_L1_BYTES = 32L << 20;
    static final long MAX_REFTABLE_BYTES = 8L << 20;
    static final int MAX_BACKING_NAME = 1023; // "Must not be longer than 1023 bytes"

    // Incompatible feature bits.
    static final long INCOMPAT_DIRTY = 1L;
    static final long INCOMPAT_CORRUPT = 1L << 1;
    static final long INCOMPAT_DATA_FILE = 1L << 2;
    static final long INCOMPAT_COMPRESSION = 1L << 3;
    static final long INCOMPAT_EXTL2 = 1L << 4;
    static final long INCOMPAT_KNOWN = 0x1f;
    static final int AUTOCLEAR_OFFSET = 88;

    // Header extension types.
    static final int EXT_END = 0;
    static final int EXT_BACKING_FORMAT = 0xe2792aca;
    static final int EXT_FEATURE_TABLE = 0x6803f857;
    static final int EXT_ENCRYPTION = 0x0537be77;
    static final int EXT_DATA_FILE = 0x44415441;

    private static final ValueLayout.OfInt BE_INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);
    private static final ValueLayout.OfLong BE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    long clusterSize() {
        return 1L << clusterBits;
    }

    /**
     * Reads and validates the header of {@code file}, opened {@code writable} or not (dirty and
     * corrupt images may still be read).
     */
    static Qcow2Header read(ImageFile file, boolean writable) throws IOException {
        String what = "qcow2 image " + file.path();
        long fileLength = file.length();
        if (fileLength < V2_HEADER) {
            throw new IOException(what + " is " + fileLength + " bytes, too short for a qcow2 header");
        }
        MemorySegment h = Arena.ofAuto().allocate(V3_HEADER);
        file.read(0, h.asSlice(0, Math.min(V3_HEADER, fileLength)));
        if (h.get(BE_INT, 0) != MAGIC) {
            throw new IOException(what + ": no qcow2 magic (QFI\\xfb) at offset 0");
        }
        int version = h.get(BE_INT, 4);
        if (version != 2 && version != 3) {
            throw new IOException(what + ": qcow2 header field version " + Integer.toUnsignedString(version)
                    + " is not supported (2 or 3)");
        }
        int clusterBits = h.get(BE_INT, 20);
        if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
            throw new IOException(what + ": qcow2 header field cluster_bits " + Integer.toUnsignedString(clusterBits)
                    + " is outside " + MIN_CLUSTER_BITS + ".." + MAX_CLUSTER_BITS);
        }
        long cluster = 1L << clusterBits;
        int crypt = h.get(BE_INT, 32);
        if (crypt != 0) {
            throw new IOException(what + ": qcow2 header field crypt_method " + Integer.toUnsignedString(crypt)
                    + ": encrypted images are not supported");
        }
        long incompatible = 0;
        long compatible = 0;
        long autoclear = 0;
        int refcountOrder = 4; // version 2: always 16-bit refcounts
        int headerLength = V2_HEADER;
        if (version == 3) {
            if (fileLength < V3_HEADER) {
                throw new IOException(what + " is " + fileLength + " bytes, too short for a version 3 qcow2 header");
            }
            incompatible = h.get(BE_LONG, 72);
            compatible = h.get(BE_LONG, 80);
            autoclear = h.get(BE_LONG, 88);
            refcountOrder = h.get(BE_INT, 96);
            headerLength = h.get(BE_INT, 100);
            // "For version 3 ... at least 104 bytes and must be a multiple of 8."
            if (headerLength < V3_HEADER || headerLength % 8 != 0 || headerLength > cluster) {
                throw new IOException(what + ": qcow2 header field header_length " + Integer.toUnsignedString(headerLength)
                        + " is not a multiple of 8 in " + V3_HEADER + ".." + cluster);
            }
        }
        // The rest of the header, the extensions and the backing file name live in cluster 0.
        long firstCluster = Math.min(cluster, fileLength);
        MemorySegment c0 = Arena.ofAuto().allocate(firstCluster);
        file.read(0, c0);

        int compressionType = 0;
        if (version == 3 && headerLength > V3_HEADER) {
            compressionType = Byte.toUnsignedInt(c0.get(ValueLayout.JAVA_BYTE, V3_HEADER));
        }
        if (refcountOrder < 3 || refcountOrder > 6) {
            // Sub-byte refcounts (orders 0..2) are legal but not implemented here; above 6 is illegal.
            throw new IOException(what + ": qcow2 header field refcount_order " + Integer.toUnsignedString(refcountOrder)
                    + " is not supported (3..6: 8- to 64-bit refcounts)");
        }

        // Header extensions: {be32 type, be32 length, data padded to 8}, ending with type 0.
        String backingFormat = null;
        Map<Integer, String> names = new HashMap<>();
        long pos = headerLength;
        boolean ended = false;
        while (pos + 8 <= firstCluster) {
            int type = c0.get(BE_INT, pos);
            long len = Integer.toUnsignedLong(c0.get(BE_INT, pos + 4));
            if (type == EXT_END) {
                ended = true;
                break;
            }
            long data = pos + 8;
            if (len > firstCluster - data) {
                throw new IOException(what + ": qcow2 header extension 0x" + Integer.toHexString(type) + " at offset "
                        + pos + " has length " + len + ", past the end of the first cluster");
            }
            switch (type) {
                case EXT_BACKING_FORMAT -> {
                    if (len == 0 || len > 16) {
                        throw new IOException(what + ": qcow2 backing format extension has length " + len + " (1..16)");
                    }
                    backingFormat = ascii(c0, data, len, what + ": qcow2 backing format extension");
                }
                case EXT_FEATURE_TABLE -> {
                    // Entries of {u8 type, u8 bit, char name[46]}; only used to name unknown bits.
                    for (long e = data; e + 48 <= data + len; e += 48) {
                        if (c0.get(ValueLayout.JAVA_BYTE, e) == 0) {
                            int bit = Byte.toUnsignedInt(c0.get(ValueLayout.JAVA_BYTE, e + 1));
                            names.put(bit, printable(c0, e + 2, 46));
                        }
                    }
                }
                case EXT_ENCRYPTION -> throw new IOException(what + ": encrypted images are not supported");
                case EXT_DATA_FILE -> throw new IOException(what + ": images with an external data file are not supported");
                default -> {
                    // Unknown extensions may be ignored ("Unknown header extensions ... can be safely ignored").
                }
            }
            pos = data + ((len + 7) & ~7L);
        }
        if (!ended && version == 3) {
            throw new IOException(what + ": qcow2 header extensions have no end marker in the first cluster");
        }

        // Incompatible features: anything we do not implement makes the image unreadable to us.
        long unknown = incompatible & ~INCOMPAT_KNOWN;
        if (unknown != 0) {
            int bit = Long.numberOfTrailingZeros(unknown);
            String name = names.get(bit);
            throw new IOException(what + ": qcow2 header field incompatible_features has unknown bit " + bit
                    + (name != null ? " (" + name + ")" : "") + " set");
        }
        if ((incompatible & INCOMPAT_DATA_FILE) != 0) {
            throw new IOException(what + ": qcow2 incompatible feature bit 2 (external data file) is not supported");
        }
        if ((incompatible & INCOMPAT_EXTL2) != 0) {
            throw new IOException(what + ": qcow2 incompatible feature bit 4 (extended L2 entries) is not supported");
        }
        if ((incompatible & INCOMPAT_COMPRESSION) != 0 || compressionType != 0) {
            if (compressionType == 1) {
                throw new IOException(what + ": qcow2 header field compression_type 1 (zstd) is not supported; "
                        + "only deflate (convert with qemu-img convert -O qcow2 -o compression_type=zlib)");
            }
            if (compressionType != 0) {
                throw new IOException(what + ": qcow2 header field compression_type " + compressionType + " is unknown");
            }
        }
        if (writable && (incompatible & INCOMPAT_DIRTY) != 0) {
            throw new IOException(what + ": qcow2 dirty bit is set (the refcounts may be stale after a crash); "
                    + "repair it with 'qemu-img check -r all " + file.path() + "' or open it read-only");
        }
        if (writable && (incompatible & INCOMPAT_CORRUPT) != 0) {
            throw new IOException(what + ": qcow2 corrupt bit is set; it can only be opened read-only "
                    + "(repair it with 'qemu-img check -r all " + file.path() + "')");
        }

        long size = h.get(BE_LONG, 24);
        if (size < 0) {
            throw new IOException(what + ": qcow2 header field size " + Long.toUnsignedString(size) + " is too large");
        }
        int l2Bits = clusterBits - 3;
        long l1Needed = Math.ceilDiv(size, cluster << l2Bits);
        long l1Size = Integer.toUnsignedLong(h.get(BE_INT, 36));
        if (l1Size < l1Needed) {
            throw new IOException(what + ": qcow2 header field l1_size " + l1Size + " is too small for size " + size
                    + " (needs " + l1Needed + ")");
        }
        if (l1Size * 8 > MAX_L1_BYTES) {
            throw new IOException(what + ": qcow2 header field l1_size " + l1Size + " exceeds the limit of "
                    + MAX_L1_BYTES / 8 + " entries");
        }
        long l1Offset = h.get(BE_LONG, 40);
        checkTable(what, "l1_table_offset", l1Offset, l1Size * 8, cluster, fileLength);
        long rtOffset = h.get(BE_LONG, 48);
        long rtClusters = Integer.toUnsignedLong(h.get(BE_INT, 56));
        if (rtClusters == 0 || rtClusters * cluster > MAX_REFTABLE_BYTES) {
            throw new IOException(what + ": qcow2 header field refcount_table_clusters " + rtClusters
                    + " is outside 1.." + MAX_REFTABLE_BYTES / cluster);
        }
        checkTable(what, "refcount_table_offset", rtOffset, rtClusters * cluster, cluster, fileLength);
        if (rtOffset == 0) {
            throw new IOException(what + ": qcow2 header field refcount_table_offset is 0");
        }
        int snapshots = h.get(BE_INT, 60);
        if (writable && snapshots != 0) {
            throw new IOException(what + ": qcow2 header field nb_snapshots is " + Integer.toUnsignedString(snapshots)
                    + ": images with internal snapshots can only be opened read-only "
                    + "(delete them with qemu-img snapshot -d)");
        }

        long backingOffset = h.get(BE_LONG, 8);
        String backingFile = null;
        if (backingOffset != 0) {
            long backingSize = Integer.toUnsignedLong(h.get(BE_INT, 16));
            if (backingSize == 0 || backingSize > MAX_BACKING_NAME) {
                throw new IOException(what + ": qcow2 header field backing_file_size " + backingSize
                        + " is outside 1.." + MAX_BACKING_NAME);
            }
            if (backingOffset < 0 || backingOffset < headerLength || backingOffset > firstCluster - backingSize) {
                throw new IOException(what + ": qcow2 header field backing_file_offset " + Long.toUnsignedString(backingOffset)
                        + " does not hold " + backingSize + " bytes inside the first cluster");
            }
            byte[] name = c0.asSlice(backingOffset, backingSize).toArray(ValueLayout.JAVA_BYTE);
            backingFile = new String(name, StandardCharsets.UTF_8);
            if (backingFile.indexOf('\0') >= 0) {
                throw new IOException(what + ": qcow2 backing file name contains a NUL byte");
            }
        }
        return new Qcow2Header(version, clusterBits, size, l1Offset, (int) l1Size, rtOffset, (int) rtClusters, snapshots,
                incompatible, compatible, autoclear, refcountOrder, headerLength, backingFile, backingFormat, Map.copyOf(names));
    }

    /** A table of {@code bytes} at {@code offset}: cluster-aligned and inside the file. */
    private static void checkTable(String what, String field, long offset, long bytes, long cluster, long fileLength)
            throws IOException {
        if (offset < 0 || (offset & (cluster - 1)) != 0) {
            throw new IOException(what + ": qcow2 header field " + field + " " + Long.toUnsignedString(offset)
                    + " is not cluster-aligned");
        }
        if (bytes > 0 && (offset == 0 || offset > fileLength - bytes)) {
            throw new IOException(what + ": qcow2 header field " + field + " " + offset + " (+" + bytes
                    + " bytes) is outside the file of " + fileLength + " bytes");
        }
    }

    private static String ascii(MemorySegment s, long at, long len, String what) throws IOException {
        byte[] b = s.asSlice(at, len).toArray(ValueLayout.JAVA_BYTE);
        for (byte x : b) {
            if (x < 0x21 || x > 0x7e) {
                throw new IOException(what + " is not printable ASCII");
            }
        }
        return new String(b, StandardCharsets.US_ASCII);
    }

    /** A NUL-padded name, with anything unprintable replaced: it only goes into messages. */
    private static String printable(MemorySegment s, long at, int max) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < max; i++) {
            byte x = s.get(ValueLayout.JAVA_BYTE, at + i);
            if (x == 0) {
                break;
            }
            b.append(x >= 0x20 && x < 0x7f ? (char) x : '?');
        }
        return b.toString();
    }
}
