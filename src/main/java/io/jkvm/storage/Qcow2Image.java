package io.jkvm.storage;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.concurrent.locks.ReentrantLock;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * A qcow2 image, versions 2 and 3 (qemu docs/interop/qcow2.txt), with an optional backing image.
 *
 * <p><b>Reads</b> walk L1 → L2 → cluster ("Cluster mapping"): an unallocated cluster reads from
 * the backing image (zeroes past its end, or with none), a zero cluster (v3, L2 bit 0) reads as
 * zeroes, a compressed cluster is inflated (raw deflate, the only compression_type we accept).
 *
 * <p><b>Writes</b> go in place to allocated clusters whose refcount is 1 (the L2 entry's COPIED
 * flag). Otherwise a cluster is allocated at the end of the file and filled with the old contents
 * (backing, zeroes or the inflated compressed data) overlaid with the new bytes; L2 tables are
 * allocated the same way. The order on the file is data, then the refcount, then the L2 (or L1)
 * entry, so no table ever points at a cluster whose refcount is 0; an interruption in between
 * only leaks a cluster (which {@code qemu-img check} reports as a leak, not an error). As qemu
 * with cache=writeback, nothing is fsynced before {@link #flush}, which makes all of it durable.
 * Metadata is written through (no dirty cache), so a flush is one fsync.
 *
 * <p><b>Hostile images.</b> Every table entry is checked when used: reserved bits, alignment,
 * and offsets inside the file; a violation is an {@link IOException} naming the table and
 * index. No read goes past the end of the file (data clusters at the end of the file may be
 * short; the rest reads as zeroes, as for any file).
 *
 * <p><b>Concurrency.</b> One lock guards the mapping and allocation; it is held for at most one
 * cluster's work (≤ 2 MiB of I/O and one inflate), and requests spanning clusters take it once
 * per cluster. Plain data reads and backing reads happen outside it.
 *
 * <p>When the file outgrows what the refcount table covers, the table grows ({@link
 * RefcountTableGrowth}). Not supported for writing: internal snapshots (refused at open). Discard
 * is a no-op (a hint, virtio 1.2 §5.2.6.2).
 */
public final class Qcow2Image implements DiskImage {
    static final ValueLayout.OfLong BE_LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    // L1 / L2 entry bits ("Cluster mapping").
    static final long OFFSET_MASK = 0x00ff_ffff_ffff_fe00L; // bits 9-55
    static final long COPIED = 1L << 63;
    static final long COMPRESSED = 1L << 62;
    static final long ZERO = 1L;
    static final long L1_RESERVED = ~(OFFSET_MASK | COPIED);
    static final long L2_RESERVED = 0x3f00_0000_0000_01feL; // bits 1-8 and 56-61 of a standard entry
    static final long REFTABLE_RESERVED = 0x1ffL;
    /**
     * How far past the end of the file allocation looks for a cluster with refcount 0 (only
     * stale or hostile refcounts make it look at all), so one write cannot land gigabytes out.
     */
    private static final long MAX_ALLOCATION_PROBE_BYTES = 32L << 20;

    private final ImageFile file;
    private final Qcow2Header header;
    private final DiskImage backing;
    private final int clusterBits;
    private final long clusterSize;
    private final int l2Bits;
    private final int refcountBytes;
    private final long refcountMax;
    private final long blockEntries;
    private final long[] l1;
    /** The refcount table as loaded or last grown; with {@link #refcountTableOffset}, under {@link #lock}. */
    private long[] refcountTable;
    private long refcountTableOffset;
    /** Clusters holding L2 tables and refcount blocks: guest writes must not land there. */
    private TableClusters tables;
    private final String what;

    private final ReentrantLock lock = new ReentrantLock();
    private final Arena arena = Arena.ofAuto();
    private final MemorySegment entry = arena.allocate(8, 8);
    private final MemorySegment entryOut = arena.allocate(8, 8);
    /** One cluster: the image of a cluster being built for a copy-on-write or inflated. Under {@link #lock}. */
    private MemorySegment clusterBuffer;
    private MemorySegment compressedBuffer;
    private MemorySegment zeroCluster;
    private Inflater inflater;
    /** The L2 entry whose cluster {@link #clusterBuffer} holds inflated, or 0. */
    private long inflatedEntry;
    /** Where the next cluster is allocated (at least the aligned end of the file). */
    private long allocationHint;
    private volatile boolean closed;

    private Qcow2Image(ImageFile file, Qcow2Header header, DiskImage backing) throws IOException {
        this.file = file;
        this.header = header;
        this.backing = backing;
        this.what = "qcow2 image " + file.path();
        this.clusterBits = header.clusterBits();
        this.clusterSize = header.clusterSize();
        this.l2Bits = clusterBits - 3;
        this.refcountBytes = (1 << header.refcountOrder()) / 8;
        this.refcountMax = refcountBytes == 8 ? Long.MAX_VALUE : (1L << (refcountBytes * 8)) - 1;
        this.blockEntries = clusterSize / refcountBytes;
        this.l1 = loadTable(header.l1Offset(), header.l1Size());
        this.refcountTable = loadTable(header.refcountTableOffset(), header.refcountTableClusters() * (clusterSize / 8));
        this.refcountTableOffset = header.refcountTableOffset();
        this.tables = TableClusters.of(clusterBits, OFFSET_MASK, l1, refcountTable);
    }

    /**
     * Opens (and locks) the qcow2 image at {@code path} and, as {@code policy} allows, its backing
     * chain (read-only, shared locks).
     */
    public static Qcow2Image open(Path path, boolean readOnly, BackingPolicy policy) throws IOException {
        return BackingChain.openTop(path, readOnly, policy);
    }

    /**
     * Opens (and locks) the qcow2 image at {@code path} alone: its backing file, if it names one,
     * is not opened, so unallocated clusters read as zeroes. For {@code jkvm image commit}, which
     * reads only what {@link #allocatedHere} says the image itself holds.
     */
    static Qcow2Image openWithoutBacking(Path path, boolean readOnly) throws IOException {
        LockedFile f = LockedFile.open(path, readOnly);
        Qcow2Header h;
        try {
            h = Qcow2Header.read(f, !readOnly);
        } catch (IOException | RuntimeException e) {
            f.close();
            throw e;
        }
        return open(f, h, null);
    }

    /**
     * Whether this image itself says what guest offset {@code g} reads as: a data, compressed or
     * zero cluster ("Cluster mapping"); false when the read would go to the backing file.
     */
    boolean allocatedHere(long g) throws IOException {
        checkRange(g, 1);
        lock.lock();
        try {
            long e = l2Entry(g);
            return (e & (COMPRESSED | ZERO)) != 0 || (e & OFFSET_MASK) != 0;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Opens a qcow2 image in {@code file} (closed on failure), with {@code backing} already opened
     * by the caller (closed on failure too).
     */
    static Qcow2Image open(ImageFile file, Qcow2Header header, DiskImage backing) throws IOException {
        try {
            Qcow2Image q = new Qcow2Image(file, header, backing);
            if (!file.readOnly() && header.autoclear() != 0) {
                // "An implementation may only write to an image with unknown auto-clear features if
                // it clears the respective bits from this field first": we keep no bitmaps either.
                q.writeLong(Qcow2Header.AUTOCLEAR_OFFSET, 0);
            }
            return q;
        } catch (IOException | RuntimeException e) {
            if (backing != null) {
                backing.close();
            }
            file.close();
            throw e;
        }
    }

    private long[] loadTable(long offset, long entries) throws IOException {
        MemorySegment s = Arena.ofAuto().allocate(Math.max(8, entries * 8), 8);
        if (entries > 0) {
            file.read(offset, s.asSlice(0, entries * 8));
        }
        long[] t = new long[(int) entries];
        for (int i = 0; i < t.length; i++) {
            t[i] = s.getAtIndex(BE_LONG, i);
        }
        return t;
    }

    @Override
    public Path path() {
        return file.path();
    }

    @Override
    public DiskFormat format() {
        return DiskFormat.QCOW2;
    }

    @Override
    public boolean readOnly() {
        return file.readOnly();
    }

    @Override
    public long size() {
        return header.size();
    }

    /** The validated header (for {@code jkvm image info}). */
    Qcow2Header header() {
        return header;
    }

    /** The backing image, or null. */
    public DiskImage backing() {
        return backing;
    }

    public long clusterSize() {
        return clusterSize;
    }

    public int version() {
        return header.version();
    }

    // ---- guest I/O ---------------------------------------------------------------------------

    @Override
    public void read(long offset, MemorySegment dst) throws IOException {
        checkRange(offset, dst.byteSize());
        long done = 0;
        while (done < dst.byteSize()) {
            long g = offset + done;
            long n = Math.min(clusterSize - (g & (clusterSize - 1)), dst.byteSize() - done);
            readCluster(g, dst.asSlice(done, n));
            done += n;
        }
    }

    /** Reads {@code dst} (inside one guest cluster) at guest offset {@code g}. */
    private void readCluster(long g, MemorySegment dst) throws IOException {
        long in = g & (clusterSize - 1);
        long l2e;
        lock.lock();
        try {
            l2e = l2Entry(g);
            if ((l2e & COMPRESSED) != 0) {
                MemorySegment c = inflate(l2e);
                dst.copyFrom(c.asSlice(in, dst.byteSize()));
                return;
            }
        } finally {
            lock.unlock();
        }
        long host = l2e & OFFSET_MASK;
        if ((l2e & ZERO) != 0) {
            dst.fill((byte) 0);
        } else if (host == 0) {
            readBacking(g, dst);
        } else {
            readData(host + in, dst);
        }
    }

    /** A data read: the part of a (valid) cluster past the end of the file reads as zeroes. */
    private void readData(long at, MemorySegment dst) throws IOException {
        long inFile = Math.max(0, Math.min(dst.byteSize(), file.length() - at));
        if (inFile > 0) {
            file.read(at, dst.asSlice(0, inFile));
        }
        dst.asSlice(inFile).fill((byte) 0);
    }

    /** Guest data below this image: the backing image's, zeroes past its end or without one. */
    private void readBacking(long g, MemorySegment dst) throws IOException {
        long fromBacking = backing == null ? 0 : Math.max(0, Math.min(dst.byteSize(), backing.size() - g));
        if (fromBacking > 0) {
            backing.read(g, dst.asSlice(0, fromBacking));
        }
        dst.asSlice(fromBacking).fill((byte) 0);
    }

    @Override
    public void write(long offset, MemorySegment src) throws IOException {
        checkWritable();
        checkRange(offset, src.byteSize());
        long done = 0;
        while (done < src.byteSize()) {
            long g = offset + done;
            long n = Math.min(clusterSize - (g & (clusterSize - 1)), src.byteSize() - done);
            lock.lock();
            try {
                writeCluster(g, src.asSlice(done, n));
            } finally {
                lock.unlock();
            }
            done += n;
        }
    }

    /** Writes {@code src} (inside one guest cluster) at guest offset {@code g}. Under {@link #lock}. */
    private void writeCluster(long g, MemorySegment src) throws IOException {
        long in = g & (clusterSize - 1);
        long l2At = l2EntryAddress(g, true);
        long l2e = readEntry(l2At, g);
        long host = l2e & OFFSET_MASK;
        boolean compressed = (l2e & COMPRESSED) != 0;
        if (!compressed && (l2e & ZERO) == 0 && host != 0) {
            requireCopied(l2e, g);
            checkNotMetadata(host, g);
            file.write(host + in, src);
            return;
        }
        // Copy-on-write: build the whole new cluster unless the write covers it.
        MemorySegment data = src;
        if (src.byteSize() < clusterSize) {
            MemorySegment c = buffer();
            if (compressed) {
                inflate(l2e); // into the buffer
            } else if ((l2e & ZERO) != 0) {
                c.fill((byte) 0);
            } else {
                readBacking(g - in, c);
            }
            inflatedEntry = 0; // the buffer is about to differ from any compressed cluster
            c.asSlice(in, src.byteSize()).copyFrom(src);
            data = c;
        }
        // Only inside the file: a hostile entry's far offset must not make one write grow the file by petabytes.
        if (!compressed && (l2e & ZERO) != 0 && host != 0 && (l2e & COPIED) != 0 && host <= file.length() - clusterSize) {
            // A preallocated zero cluster with refcount 1: fill it in place.
            checkNotMetadata(host, g);
            file.write(host, data);
            writeLong(l2At, host | COPIED);
            return;
        }
        long fresh = allocate();
        file.write(fresh, data);
        addRefcount(fresh, 1);
        writeLong(l2At, fresh | COPIED);
        if (compressed) {
            releaseCompressed(l2e);
        }
    }

    @Override
    public void flush() throws IOException {
        if (closed) {
            throw new IOException("disk image " + path() + " is closed");
        }
        if (!file.readOnly()) {
            file.flush(); // data, refcounts, L2 and L1 entries were all written through
        }
    }

    /** A hint only; qcow2 clusters are not given back (their contents would stay). */
    @Override
    public boolean discard(long offset, long len) throws IOException {
        checkWritable();
        checkRange(offset, len);
        return false;
    }

    /**
     * Whole clusters of a version 3 image become zero clusters (L2 bit 0), keeping a cluster we
     * own as preallocated; partial clusters and version 2 images are written with zeroes.
     * Unallocated clusters without a backing image already read as zeroes.
     */
    @Override
    public void writeZeroes(long offset, long len, boolean unmap) throws IOException {
        checkWritable();
        checkRange(offset, len);
        long done = 0;
        while (done < len) {
            long g = offset + done;
            long n = Math.min(clusterSize - (g & (clusterSize - 1)), len - done);
            lock.lock();
            try {
                zeroOne(g, n);
            } finally {
                lock.unlock();
            }
            done += n;
        }
    }

    private void zeroOne(long g, long n) throws IOException {
        long l2e = l2Entry(g);
        boolean unallocated = (l2e & (COMPRESSED | ZERO)) == 0 && (l2e & OFFSET_MASK) == 0;
        if ((l2e & ZERO) != 0 && (l2e & COMPRESSED) == 0 || unallocated && backing == null) {
            return;
        }
        if (header.version() >= 3 && n == clusterSize) {
            long l2At = l2EntryAddress(g, true);
            if ((l2e & COMPRESSED) != 0) {
                writeLong(l2At, ZERO);
                releaseCompressed(l2e);
            } else if (unallocated) {
                writeLong(l2At, ZERO);
            } else {
                requireCopied(l2e, g);
                writeLong(l2At, (l2e & OFFSET_MASK) | COPIED | ZERO);
            }
            return;
        }
        writeCluster(g, zeroes().asSlice(0, n));
    }

    // ---- mapping -----------------------------------------------------------------------------

    /** The L2 entry for guest offset {@code g}, or 0 (unallocated) when there is no L2 table. Under {@link #lock}. */
    private long l2Entry(long g) throws IOException {
        long at = l2EntryAddress(g, false);
        return at == 0 ? 0 : readEntry(at, g);
    }

    /**
     * Where in the file the L2 entry for guest offset {@code g} is; 0 if its L2 table is not
     * allocated and {@code allocate} is false. Under {@link #lock}.
     */
    private long l2EntryAddress(long g, boolean allocate) throws IOException {
        int i = (int) (g >>> (clusterBits + l2Bits)); // < l1_size: the header check covers the size
        long e = l1[i];
        if ((e & L1_RESERVED) != 0) {
            throw new IOException(what + ": L1 table entry " + i + " has reserved bits set (0x" + Long.toHexString(e) + ")");
        }
        long table = e & OFFSET_MASK;
        if (table == 0) {
            if (!allocate) {
                return 0;
            }
            table = allocate();
            file.write(table, zeroes());
            addRefcount(table, 1);
            tables.add(table);
            writeLong(header.l1Offset() + 8L * i, table | COPIED);
            l1[i] = table | COPIED;
        } else {
            checkCluster(table, "L1 table entry " + i + " (an L2 table)");
            if (allocate && (e & COPIED) == 0) {
                throw new IOException(what + ": L1 table entry " + i + " has a shared L2 table (refcount > 1, "
                        + "internal snapshots?); writing it is not supported");
            }
        }
        return table + 8 * ((g >>> clusterBits) & ((1L << l2Bits) - 1));
    }

    /** Reads and checks the L2 entry at {@code at} (for guest offset {@code g}). */
    private long readEntry(long at, long g) throws IOException {
        file.read(at, entry);
        long e = entry.get(BE_LONG, 0);
        String where = "L2 table at " + (at & ~(clusterSize - 1)) + " entry " + ((at & (clusterSize - 1)) / 8);
        if ((e & COMPRESSED) != 0) {
            if ((e & COPIED) != 0) {
                throw new IOException(what + ": " + where + " is compressed with the COPIED flag set (0x"
                        + Long.toHexString(e) + ")");
            }
            long off = e & ((1L << (62 - (clusterBits - 8))) - 1);
            if (off == 0 || off >= file.length()) {
                throw new IOException(what + ": " + where + " points at compressed data at " + off
                        + ", outside the file of " + file.length() + " bytes");
            }
            return e;
        }
        long reserved = L2_RESERVED | (header.version() < 3 ? ZERO : 0);
        if ((e & reserved) != 0) {
            throw new IOException(what + ": " + where + " has reserved bits set (0x" + Long.toHexString(e) + ")");
        }
        long host = e & OFFSET_MASK;
        if (host != 0) {
            if ((host & (clusterSize - 1)) != 0) {
                throw new IOException(what + ": " + where + " points at " + host + ", which is not cluster-aligned");
            }
            if ((e & ZERO) == 0 && host >= file.length()) {
                throw new IOException(what + ": " + where + " points at cluster " + host + ", outside the file of "
                        + file.length() + " bytes");
            }
        }
        return e;
    }

    /** An L2 table or refcount block at {@code at}: aligned, not the header, the whole cluster inside the file. */
    private void checkCluster(long at, String where) throws IOException {
        if ((at & (clusterSize - 1)) != 0) {
            throw new IOException(what + ": " + where + " points at " + at + ", which is not cluster-aligned");
        }
        if (at < 0 || at > file.length() - clusterSize) { // refcount table entries use bits 9-63: may be negative
            throw new IOException(what + ": " + where + " points at cluster " + Long.toUnsignedString(at)
                    + ", outside the file of "
                    + file.length() + " bytes");
        }
    }

    private static void requireCopied(long l2e, long g) throws IOException {
        if ((l2e & COPIED) == 0) {
            throw new IOException("qcow2: the cluster at guest offset " + g + " is shared (refcount > 1, internal "
                    + "snapshots?); writing it is not supported");
        }
    }

    /**
     * A guest write must not land on the image's metadata: the header, the L1 and refcount tables,
     * or an L2 table or refcount block (a hostile or corrupt L2 entry could aim it there).
     */
    private void checkNotMetadata(long host, long g) throws IOException {
        String what = host < clusterSize ? "header"
                : overlaps(host, header.l1Offset(), 8L * l1.length) ? "L1 table"
                : overlaps(host, refcountTableOffset, 8L * refcountTable.length) ? "refcount table"
                : tables.contains(host) ? "L2 tables or refcount blocks"
                : null;
        if (what != null) {
            throw new IOException(this.what + ": the L2 entry for guest offset " + g + " points at host cluster " + host
                    + ", which holds one of the image's " + what);
        }
    }

    private boolean overlaps(long cluster, long start, long len) {
        return cluster < start + len && start < cluster + clusterSize;
    }

    // ---- compressed clusters -----------------------------------------------------------------

    /**
     * Inflates the compressed cluster of L2 entry {@code e} into the cluster buffer ("Compressed
     * Clusters Descriptor": x = 62 - (cluster_bits - 8) offset bits, then the number of additional
     * 512-byte sectors). Under {@link #lock}.
     */
    private MemorySegment inflate(long e) throws IOException {
        MemorySegment out = buffer();
        if (e == inflatedEntry) {
            return out;
        }
        int x = 62 - (clusterBits - 8);
        long off = e & ((1L << x) - 1);
        long sectors = (e >>> x) & ((1L << (clusterBits - 8)) - 1);
        long size = (sectors + 1) * 512 - (off & 511); // at most two clusters
        long inFile = Math.min(size, file.length() - off); // qemu rounds the last one past the end of the file
        if (compressedBuffer == null) {
            compressedBuffer = arena.allocate(2 * clusterSize);
        }
        MemorySegment in = compressedBuffer.asSlice(0, inFile);
        file.read(off, in);
        if (inflater == null) {
            inflater = new Inflater(true); // raw deflate, no zlib header
        }
        inflater.reset();
        inflater.setInput(in.asByteBuffer());
        try {
            java.nio.ByteBuffer o = out.asByteBuffer();
            while (o.hasRemaining() && !inflater.finished()) {
                if (inflater.inflate(o) == 0 && (inflater.needsInput() || inflater.needsDictionary())) {
                    break;
                }
            }
            int n = o.position();
            if (n != clusterSize) {
                throw new IOException(what + ": compressed cluster at " + off + " inflates to " + n + " bytes, not "
                        + clusterSize);
            }
        } catch (DataFormatException ex) {
            throw new IOException(what + ": compressed cluster at " + off + " is not valid deflate data: "
                    + ex.getMessage(), ex);
        }
        inflatedEntry = e;
        return out;
    }

    /** Drops the references a compressed cluster holds on every host cluster its bytes touch. */
    private void releaseCompressed(long e) throws IOException {
        int x = 62 - (clusterBits - 8);
        long off = e & ((1L << x) - 1);
        long sectors = (e >>> x) & ((1L << (clusterBits - 8)) - 1);
        long end = off + (sectors + 1) * 512 - (off & 511);
        for (long c = off & ~(clusterSize - 1); c < end; c += clusterSize) {
            addRefcount(c, -1);
        }
        inflatedEntry = 0;
    }

    // ---- allocation and refcounts ("Host cluster management") --------------------------------

    /** A cluster with refcount 0 at or past the end of the file; the caller writes it, then counts it. */
    private long allocate() throws IOException {
        long c = Math.max(allocationHint, (file.length() + clusterSize - 1) & ~(clusterSize - 1));
        long probes = MAX_ALLOCATION_PROBE_BYTES / clusterSize;
        for (long probe = 0; ; probe++) {
            if (c > OFFSET_MASK) {
                throw new IOException(what + ": the image file has reached the largest offset qcow2 can address");
            }
            if (refcount(c) == 0) {
                allocationHint = c + clusterSize;
                return c;
            }
            if (probe == probes) {
                throw new IOException(what + ": no free cluster in " + probes + " clusters past the end "
                        + "of the file (stale refcounts?); repair it with 'qemu-img check -r all " + path() + "'");
            }
            c += clusterSize;
        }
    }

    /** The refcount block for host cluster {@code c}, or 0 when it has none. */
    private long refcountBlock(long c) throws IOException {
        long index = (c >>> clusterBits) / blockEntries;
        if (index >= refcountTable.length) {
            return 0;
        }
        long e = refcountTable[(int) index];
        if ((e & REFTABLE_RESERVED) != 0) {
            throw new IOException(what + ": refcount table entry " + index + " has reserved bits set (0x"
                    + Long.toHexString(e) + ")");
        }
        if (e != 0) {
            checkCluster(e, "refcount table entry " + index);
        }
        return e;
    }

    private long refcount(long c) throws IOException {
        long block = refcountBlock(c);
        if (block == 0) {
            return 0;
        }
        MemorySegment s = entry.asSlice(0, refcountBytes);
        file.read(block + ((c >>> clusterBits) % blockEntries) * refcountBytes, s);
        long v = 0;
        for (int i = 0; i < refcountBytes; i++) {
            v = (v << 8) | Byte.toUnsignedLong(s.get(ValueLayout.JAVA_BYTE, i));
        }
        return v;
    }

    /** Adds {@code delta} to the refcount of host cluster {@code c}, allocating its refcount block if needed. */
    private void addRefcount(long c, long delta) throws IOException {
        long index = (c >>> clusterBits) / blockEntries;
        if (index >= refcountTable.length) {
            RefcountTableGrowth.Grown g = new RefcountTableGrowth(this).grow(index);
            long[] old = refcountTable;
            long oldOffset = refcountTableOffset;
            refcountTable = g.table();
            tables = TableClusters.of(clusterBits, OFFSET_MASK, l1, refcountTable);
            refcountTableOffset = g.offset();
            allocationHint = Math.max(allocationHint, g.end());
            // The header points at the new table now; the old one's clusters are free (qcow2
            // "Host cluster management": refcount 0 = free). Counted down through the new table.
            for (long at = oldOffset; at < oldOffset + 8L * old.length; at += clusterSize) {
                addRefcount(at, -1);
            }
        }
        long block = refcountBlock(c);
        if (block == 0) {
            block = newRefcountBlock((int) index);
        }
        long now = refcount(c);
        long next = now + delta;
        if (next < 0 || next > refcountMax || (delta > 0 && next < now)) {
            throw new IOException(what + ": refcount of cluster " + c + " is " + now + " and cannot change by " + delta
                    + "; repair it with 'qemu-img check -r all " + path() + "'");
        }
        MemorySegment s = entry.asSlice(0, refcountBytes);
        for (int i = refcountBytes - 1; i >= 0; i--) {
            s.set(ValueLayout.JAVA_BYTE, i, (byte) next);
            next >>>= 8;
        }
        file.write(block + ((c >>> clusterBits) % blockEntries) * refcountBytes, s);
    }

    /**
     * Allocates, zeroes and links a refcount block for refcount table entry {@code index}. The
     * block counts itself when it covers its own cluster; otherwise its refcount goes into the
     * block that does (allocated in turn; the end of the file moves forward only, so this ends).
     */
    private long newRefcountBlock(int index) throws IOException {
        long b = allocate();
        MemorySegment z = zeroes();
        boolean self = (b >>> clusterBits) / blockEntries == index;
        if (self) {
            MemorySegment block = buffer();
            inflatedEntry = 0;
            block.fill((byte) 0);
            block.set(ValueLayout.JAVA_BYTE, ((b >>> clusterBits) % blockEntries) * refcountBytes + refcountBytes - 1, (byte) 1);
            file.write(b, block);
        } else {
            file.write(b, z);
        }
        tables.add(b);
        writeLong(refcountTableOffset + 8L * index, b);
        refcountTable[index] = b;
        if (!self) {
            addRefcount(b, 1);
        }
        return b;
    }

    // ---- for RefcountTableGrowth (under the lock) ---------------------------------------------

    ImageFile file() {
        return file;
    }

    int clusterBits() {
        return clusterBits;
    }

    int refcountBytes() {
        return refcountBytes;
    }

    long[] refcountTable() {
        return refcountTable;
    }

    /** Where allocation would continue: past the aligned end of the file and every cluster handed out. */
    long allocationStart() {
        return Math.max(allocationHint, (file.length() + clusterSize - 1) & ~(clusterSize - 1));
    }

    /** The refcount block (checked) covering host cluster {@code c}, or 0 when the table has none for it. */
    long blockFor(long c) throws IOException {
        return refcountBlock(c);
    }

    /** Sets the refcount of {@code c}, whose block exists, to 1 (for clusters no table references yet). */
    void countOne(long c) throws IOException {
        addRefcount(c, 1);
    }

    String what() {
        return what;
    }

    // ---- helpers -----------------------------------------------------------------------------

    private MemorySegment buffer() {
        if (clusterBuffer == null) {
            clusterBuffer = arena.allocate(clusterSize, 4096);
        }
        return clusterBuffer;
    }

    private MemorySegment zeroes() {
        if (zeroCluster == null) {
            zeroCluster = arena.allocate(clusterSize, 4096);
        }
        return zeroCluster;
    }

    private void writeLong(long at, long v) throws IOException {
        entryOut.set(BE_LONG, 0, v);
        file.write(at, entryOut);
    }

    private void checkWritable() throws IOException {
        if (file.readOnly()) {
            throw new IOException("disk image " + path() + " is read-only");
        }
    }

    private void checkRange(long offset, long len) throws IOException {
        if (closed) {
            throw new IOException("disk image " + path() + " is closed");
        }
        DiskImage.checkRange(path(), header.size(), offset, len);
    }

    @Override
    public void setLocked(boolean locked) throws IOException {
        file.setLocked(locked);
    }

    @Override
    public void close() {
        lock.lock();
        try {
            if (closed) {
                return;
            }
            closed = true;
            if (inflater != null) {
                inflater.end();
            }
            file.close();
            if (backing != null) {
                backing.close();
            }
        } finally {
            lock.unlock();
        }
    }
}
