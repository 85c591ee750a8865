package io.jkvm.storage;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code jkvm image check}: a read-only consistency check of a qcow2 image's metadata, with
 * qemu-img check's verdicts and exit statuses (0 clean, 1 check not completed, 2 corruptions, 3
 * leaks only).
 *
 * <p>It counts, for every host cluster of the file, the references the metadata makes (the header
 * cluster, the L1 and refcount tables, each refcount block, each L2 table, each data cluster and
 * each cluster a compressed cluster's bytes touch; qcow2 spec "Host cluster management" and
 * "Cluster mapping") and compares them with the refcounts stored in the refcount blocks: a stored
 * refcount above the references is a leak (space lost, no harm), below is a corruption (a cluster
 * in use could be allocated again). Besides: entries with reserved bits, unaligned entries,
 * entries pointing past the end of the file, a cluster used as two different kinds of metadata
 * (or as metadata and data: a guest write there would overwrite the image's own tables), and
 * COPIED flags that disagree with a refcount of 1.
 *
 * <p>{@link #repair} ({@code jkvm image check -r leaks|all}) writes the refcounts the references
 * call for: leaks only on an image with no error at all; with {@code all}, refcounts that are too
 * low as well, on an image whose only errors are refcounts and the COPIED flags that follow from
 * them (lowering a refcount to what an unwalked, damaged table seemed not to reference would let a
 * cluster in use be allocated twice, so structural damage is never "repaired" here).
 *
 * <p>Bounded: the tables it loads are capped by {@link Qcow2Header}; its per-cluster arrays are
 * sized by the file's length, which is capped at {@link #MAX_CLUSTERS} clusters; every offset
 * read from the file is checked against the file's length before it is read or counted.
 */
public final class Qcow2Checker {
    /** Per-cluster state costs 5 bytes: 2^24 clusters (1 TiB of file at 64 KiB clusters) is 80 MiB. */
    static final long MAX_CLUSTERS = 1L << 24;
    /** Problems listed one a line; the rest are only counted. */
    static final int MAX_LINES = 30;

    private static final byte NONE = 0;
    private static final byte HEADER = 1;
    private static final byte L1 = 2;
    private static final byte REFTABLE = 3;
    private static final byte REFBLOCK = 4;
    private static final byte L2 = 5;
    private static final byte DATA = 6;
    private static final byte COMPRESSED = 7;
    private static final String[] KIND = {"", "the header", "the L1 table", "the refcount table", "a refcount block",
        "an L2 table", "a data cluster", "compressed data"};

    /**
     * The result: {@code exitCode} as qemu-img check's; {@code lines} the listed problems (capped)
     * and the summary; {@code incomplete} why the check could not be completed, or null.
     */
    public record Report(int corruptions, int leaks, List<String> lines, String incomplete) {
        public int exitCode() {
            return incomplete != null ? 1 : corruptions > 0 ? 2 : leaks > 0 ? 3 : 0;
        }
    }

    private final ImageFile file;
    private final Qcow2Header h;
    private final long fileLength;
    private final int clusterBits;
    private final long clusterSize;
    private final long clusters;
    private final char[] references;
    private final char[] stored;
    private final byte[] kind;
    private final List<String> lines = new ArrayList<>();
    private int corruptions;
    /** Of the corruptions: refcounts below the references, and COPIED flags that disagree with a refcount. */
    private int refcountErrors;
    private int copiedErrors;
    private int leaks;
    /** L1/L2 entries whose COPIED flag disagrees with the refcount: {file offset, entry with the flag flipped}. */
    private final List<long[]> copiedFixes = new ArrayList<>();
    /** More than this many wrong COPIED flags: -r all fixes these and the next run the rest. */
    static final int MAX_COPIED_FIXES = 1 << 16;
    /** Refcount table index to its (valid) refcount block's offset, 0 if none. */
    private long[] blockAt = new long[0];
    private int refcountBytes;
    private int unlisted;

    private Qcow2Checker(ImageFile file, Qcow2Header h) {
        this.file = file;
        this.h = h;
        this.fileLength = file.length();
        this.clusterBits = h.clusterBits();
        this.clusterSize = h.clusterSize();
        this.clusters = Math.ceilDiv(fileLength, clusterSize);
        this.references = new char[(int) clusters];
        this.stored = new char[(int) clusters];
        this.kind = new byte[(int) clusters];
    }

    /** Checks {@code path} (opened read-only with a shared lock, so not while a VM writes it). */
    public static Report check(Path path) throws IOException {
        try (LockedFile f = LockedFile.open(path, true)) {
            return check(f);
        }
    }

    static Report check(ImageFile f) throws IOException {
        Qcow2Header h;
        try {
            h = Qcow2Header.read(f, false);
        } catch (IOException e) {
            return new Report(0, 0, List.of(), e.getMessage());
        }
        if (h.snapshots() != 0) {
            return new Report(0, 0, List.of(), "qcow2 image " + f.path() + " has " + h.snapshots()
                    + " internal snapshot(s), whose tables this check does not walk");
        }
        if ((h.autoclear() & 1) != 0) {
            return new Report(0, 0, List.of(), "qcow2 image " + f.path()
                    + " has persistent bitmaps, whose clusters this check does not walk");
        }
        long n = Math.ceilDiv(f.length(), h.clusterSize());
        if (n > MAX_CLUSTERS) {
            return new Report(0, 0, List.of(), "qcow2 image " + f.path() + " has " + n + " clusters, more than this "
                    + "check handles (" + MAX_CLUSTERS + ")");
        }
        Qcow2Checker c = new Qcow2Checker(f, h);
        c.run();
        return c.report();
    }

    private void run() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(clusterSize, 8);
            reference(0, HEADER, "the header");
            for (long at = h.l1Offset(); at < h.l1Offset() + 8L * h.l1Size(); at += clusterSize) {
                reference(at, L1, "the L1 table");
            }
            long rtBytes = (long) h.refcountTableClusters() * clusterSize;
            for (long at = h.refcountTableOffset(); at < h.refcountTableOffset() + rtBytes; at += clusterSize) {
                reference(at, REFTABLE, "the refcount table");
            }
            readRefcounts(arena, buf, rtBytes);
            walkL1(arena, buf);
        }
        for (int i = 0; i < clusters; i++) {
            int s = stored[i];
            int r = references[i];
            if (s > r) {
                leaks++;
                problem("leaked cluster " + i + " (at " + ((long) i << clusterBits) + "): refcount " + s + ", referenced "
                        + r + " time(s)");
            } else if (s < r) {
                corruptions++;
                refcountErrors++;
                problem("ERROR cluster " + i + " (at " + ((long) i << clusterBits) + "): refcount " + s + ", referenced "
                        + r + " time(s)");
            }
        }
    }

    /** Loads the stored refcounts from every valid refcount block, counting the blocks as references. */
    private void readRefcounts(Arena arena, MemorySegment buf, long rtBytes) throws IOException {
        MemorySegment table = arena.allocate(rtBytes, 8);
        file.read(h.refcountTableOffset(), table);
        refcountBytes = (1 << h.refcountOrder()) / 8;
        long blockEntries = clusterSize / refcountBytes;
        blockAt = new long[(int) (rtBytes / 8)];
        for (long i = 0; i < rtBytes / 8; i++) {
            long e = table.getAtIndex(Qcow2Image.BE_LONG, i);
            String where = "refcount table entry " + i;
            if ((e & Qcow2Image.REFTABLE_RESERVED) != 0) {
                corrupt(where + " has reserved bits set (0x" + Long.toHexString(e) + ")");
                continue;
            }
            if (e == 0) {
                continue;
            }
            if (!cluster(e, where, REFBLOCK)) {
                continue;
            }
            blockAt[(int) i] = e;
            file.read(e, buf);
            for (long k = 0; k < blockEntries; k++) {
                long c = i * blockEntries + k;
                if (c >= clusters) {
                    break;
                }
                long v = 0;
                for (int b = 0; b < refcountBytes; b++) {
                    v = (v << 8) | Byte.toUnsignedLong(buf.get(ValueLayout.JAVA_BYTE, k * refcountBytes + b));
                }
                stored[(int) c] = (char) Math.min(v, 0xffff); // 64-bit refcounts saturate (no real image gets there)
            }
        }
    }

    private void walkL1(Arena arena, MemorySegment buf) throws IOException {
        MemorySegment l1 = arena.allocate(Math.max(8, 8L * h.l1Size()), 8);
        file.read(h.l1Offset(), l1.asSlice(0, 8L * h.l1Size()));
        for (int i = 0; i < h.l1Size(); i++) {
            long e = l1.getAtIndex(Qcow2Image.BE_LONG, i);
            String where = "L1 table entry " + i;
            if ((e & Qcow2Image.L1_RESERVED) != 0) {
                corrupt(where + " has reserved bits set (0x" + Long.toHexString(e) + ")");
                continue;
            }
            long table = e & Qcow2Image.OFFSET_MASK;
            if (table == 0 || !cluster(table, where, L2)) {
                continue;
            }
            checkCopied(table, h.l1Offset() + 8L * i, e, where + " (an L2 table)");
            file.read(table, buf);
            walkL2(table, buf);
        }
    }

    private void walkL2(long table, MemorySegment l2) {
        long entries = clusterSize / 8;
        int x = 62 - (clusterBits - 8); // compressed: offset bits ("Compressed Clusters Descriptor")
        for (long j = 0; j < entries; j++) {
            long e = l2.getAtIndex(Qcow2Image.BE_LONG, j);
            if (e == 0) {
                continue;
            }
            String where = "L2 table at " + table + " entry " + j;
            if ((e & Qcow2Image.COMPRESSED) != 0) {
                if ((e & Qcow2Image.COPIED) != 0) {
                    corrupt(where + " is compressed with the COPIED flag set");
                }
                long off = e & ((1L << x) - 1);
                long sectors = (e >>> x) & ((1L << (clusterBits - 8)) - 1);
                long end = off + (sectors + 1) * 512 - (off & 511);
                if (off == 0 || end > Math.max(fileLength, (fileLength + 511) & ~511L)) {
                    corrupt(where + " points at compressed data [" + off + ", " + end + "), outside the file of "
                            + fileLength + " bytes");
                    continue;
                }
                for (long c = off & ~(clusterSize - 1); c < end; c += clusterSize) {
                    reference(c, COMPRESSED, where);
                }
                continue;
            }
            long reserved = Qcow2Image.L2_RESERVED | (h.version() < 3 ? Qcow2Image.ZERO : 0);
            if ((e & reserved) != 0) {
                corrupt(where + " has reserved bits set (0x" + Long.toHexString(e) + ")");
                continue;
            }
            long host = e & Qcow2Image.OFFSET_MASK;
            if (host != 0 && cluster(host, where, DATA)) {
                checkCopied(host, table + 8 * j, e, where);
            }
        }
    }

    /**
     * Counts a reference to the cluster at {@code at} from {@code where} if it is aligned and
     * inside the file; otherwise reports a corruption and returns false.
     */
    private boolean cluster(long at, String where, byte k) {
        if ((at & (clusterSize - 1)) != 0) {
            corrupt(where + " points at " + Long.toUnsignedString(at) + ", which is not cluster-aligned");
            return false;
        }
        if (at < 0 || at >= fileLength || (k != DATA && at > fileLength - clusterSize)) {
            corrupt(where + " points at " + Long.toUnsignedString(at) + ", outside the file of " + fileLength + " bytes");
            return false;
        }
        reference(at, k, where);
        return true;
    }

    private void reference(long at, byte k, String where) {
        int c = (int) (at >>> clusterBits);
        if (references[c] < 0xffff) {
            references[c]++;
        }
        byte was = kind[c];
        if (was == NONE || (was == COMPRESSED && k == COMPRESSED)) {
            kind[c] = k;
        } else if (was != k || k != DATA) {
            corrupt(where + " points at cluster " + c + " (at " + at + "), which is already " + KIND[was]
                    + (k == DATA && was != DATA ? ": a guest write would overwrite metadata" : ""));
        }
    }

    /** "refcount == 1" and the COPIED flag must agree (spec, L1 and L2 entry bit 63). */
    private void checkCopied(long at, long entryAt, long entry, String where) {
        int s = stored[(int) (at >>> clusterBits)];
        boolean copied = (entry & Qcow2Image.COPIED) != 0;
        if ((s == 1) != copied) {
            copiedErrors++;
            if (copiedFixes.size() < MAX_COPIED_FIXES) {
                copiedFixes.add(new long[] {entryAt, entry ^ Qcow2Image.COPIED});
            }
            corrupt(where + " has COPIED " + (copied ? "set" : "clear") + " but the cluster's refcount is " + s);
        }
    }

    private void corrupt(String what) {
        corruptions++;
        problem("ERROR " + what);
    }

    private void problem(String line) {
        if (lines.size() < MAX_LINES) {
            lines.add(line);
        } else {
            unlisted++;
        }
    }

    /** What {@code -r} repairs: leaked clusters only, or too-low refcounts as well. */
    public enum Repair {
        LEAKS, ALL;

        public static Repair parse(String s) {
            return switch (s) {
                case "leaks" -> LEAKS;
                case "all" -> ALL;
                default -> throw new IllegalArgumentException("-r: '" + s + "' is not leaks or all");
            };
        }
    }

    /** What {@link #repair} did: refcounts lowered (leaks) and raised (errors), and the check after it. */
    public record Repaired(int leaksFixed, int errorsFixed, Report after, String refused) {}

    /**
     * Checks {@code path} (opened read-write with an exclusive lock, so never while a VM uses it),
     * rewrites the refcounts {@code mode} allows (see the class comment), and checks it again.
     * {@code refused} says why nothing was written, or is null.
     */
    public static Repaired repair(Path path, Repair mode) throws IOException {
        try (LockedFile f = LockedFile.open(path, false)) {
            Qcow2Header h;
            try {
                h = Qcow2Header.read(f, false);
            } catch (IOException e) {
                return new Repaired(0, 0, new Report(0, 0, List.of(), e.getMessage()), null);
            }
            Report before = check(f);
            if (before.incomplete() != null || (before.corruptions() == 0 && before.leaks() == 0)) {
                return new Repaired(0, 0, before, null);
            }
            Qcow2Checker c = new Qcow2Checker(f, h);
            c.run();
            int structural = c.corruptions - c.refcountErrors - c.copiedErrors;
            if (structural > 0 || (mode == Repair.LEAKS && c.corruptions > 0)) {
                return new Repaired(0, 0, before, structural > 0
                        ? structural + " error(s) other than refcounts (see above): the references cannot be trusted, "
                                + "so no refcount is rewritten; qemu-img check -r all FILE may salvage it"
                        : c.corruptions + " error(s) found: -r leaks frees nothing on an image with errors; "
                                + "-r all repairs refcount errors and leaks together");
            }
            int[] fixed = c.writeRefcounts(mode);
            if (mode == Repair.ALL) {
                // COPIED must say "refcount 1" (spec, L1/L2 entry bit 63): judged against the refcounts just written.
                Qcow2Checker again = new Qcow2Checker(f, h);
                again.run();
                fixed[1] += again.writeCopiedFlags();
            }
            f.flush();
            return new Repaired(fixed[0], fixed[1], check(f), null);
        }
    }

    /** Flips each COPIED flag that disagrees with its cluster's refcount; returns how many. */
    private int writeCopiedFlags() throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(8, 8);
            for (long[] fix : copiedFixes) {
                v.set(Qcow2Image.BE_LONG, 0, fix[1]);
                file.write(fix[0], v);
            }
        }
        return copiedFixes.size();
    }

    /** Writes the referenced count over each mismatching stored refcount; returns {leaks, errors} fixed. */
    private int[] writeRefcounts(Repair mode) throws IOException {
        long blockEntries = clusterSize / refcountBytes;
        int leaksFixed = 0;
        int errorsFixed = 0;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment v = arena.allocate(refcountBytes);
            for (int i = 0; i < clusters; i++) {
                int s = stored[i];
                int r = references[i];
                if (s == r || (s < r && mode != Repair.ALL) || s == 0xffff || r == 0xffff) {
                    continue; // saturated counts are not exact: left alone
                }
                if (refcountBytes == 1 && r > 0xff) {
                    continue; // more references than 8-bit refcounts can count
                }
                long index = i / blockEntries;
                long block = index < blockAt.length ? blockAt[(int) index] : 0;
                if (block == 0) {
                    continue; // no refcount block covers it (refcount 0 stored): raising it would need a new block
                }
                for (int b = 0; b < refcountBytes; b++) {
                    v.set(ValueLayout.JAVA_BYTE, b, (byte) (r >>> (8 * (refcountBytes - 1 - b))));
                }
                file.write(block + (i % blockEntries) * refcountBytes, v);
                if (s > r) {
                    leaksFixed++;
                } else {
                    errorsFixed++;
                }
            }
        }
        return new int[] {leaksFixed, errorsFixed};
    }

    private Report report() {
        List<String> out = new ArrayList<>(lines);
        if (unlisted > 0) {
            out.add("... and " + unlisted + " more");
        }
        if (corruptions > 0) {
            out.add(corruptions + " error(s) found on the image: data may be corrupted or become corrupted; "
                    + "'qemu-img check -r all' repairs what it can");
        }
        if (leaks > 0) {
            out.add(leaks + " leaked cluster(s) found on the image: wasted space, no harm to data");
        }
        if (corruptions == 0 && leaks == 0) {
            out.add("No errors were found on the image.");
        }
        return new Report(corruptions, leaks, List.copyOf(out), null);
    }
}
