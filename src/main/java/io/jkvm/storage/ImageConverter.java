package io.jkvm.storage;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * {@code jkvm image convert} and {@code jkvm image commit}: copying guest data between images
 * through the {@link DiskImage} API, so whatever the VMM can read (raw, qcow2 with its backing
 * chain, compressed and zero clusters) can be copied, and what is written goes through the same
 * allocation code a guest's writes take.
 */
public final class ImageConverter {
    /** Bytes read per request. */
    private static final long CHUNK = 1 << 20;
    /** A raw destination skips all-zero blocks of this size (they stay holes in the sparse file). */
    private static final long RAW_GRAIN = 4096;

    private ImageConverter() {}

    /**
     * Copies the guest-visible contents of {@code src} ({@code srcFormat}, its backing chain
     * followed as the VMM would) into a new image {@code dst}. A qcow2 destination allocates only
     * clusters that are not all zeroes; a raw one is sparse where the data is zero. Returns the
     * destination's virtual size (a qcow2 one is rounded up to 512 bytes).
     */
    public static long convert(Path src, DiskFormat srcFormat, Path dst, DiskFormat dstFormat, int clusterSize,
            boolean force) throws IOException {
        if (!Files.isRegularFile(src)) {
            throw new IllegalArgumentException("SRC " + src + " does not exist or is not a regular file");
        }
        if (Files.exists(dst)) {
            if (Files.isSameFile(src, dst)) {
                throw new IllegalArgumentException("DST " + dst + " is SRC; refusing to overwrite the image being read");
            }
            if (srcFormat == DiskFormat.QCOW2 && force) {
                List<Path> chain = BackingChain.files(src, BackingPolicy.TOP_DIRECTORY);
                if (chain.contains(dst.toRealPath())) {
                    throw new IllegalArgumentException("DST " + dst + " is in SRC's backing chain; refusing to overwrite it");
                }
            }
        }
        try (DiskImage in = DiskImages.open(src, srcFormat, true, BackingPolicy.TOP_DIRECTORY)) {
            long size = dstFormat == DiskFormat.QCOW2 ? (in.size() + 511) & ~511L : in.size();
            boolean existed = Files.exists(dst);
            ImageCreator.create(new ImageCreator.Request(dst, dstFormat, size, null, null, clusterSize, force));
            try (DiskImage out = DiskImages.open(dst, dstFormat, false, BackingPolicy.NONE)) {
                long grain = out instanceof Qcow2Image q ? q.clusterSize() : RAW_GRAIN;
                copy(in, out, 0, in.size(), grain, false);
                out.flush();
            } catch (IOException | RuntimeException e) {
                if (!existed) {
                    Files.deleteIfExists(dst); // no half-copied image left under a new name
                }
                throw e;
            }
            return size;
        }
    }

    /**
     * Writes the clusters {@code overlay} (a qcow2 image) itself holds into its backing file, as
     * {@code qemu-img commit -d} does: the backing file then reads as the overlay did, and the
     * overlay is left as it was (still valid, its clusters now equal to the backing's). The
     * backing file must be raw or qcow2, writable, not in use, and at least the overlay's size.
     * Returns the number of bytes written.
     */
    public static long commit(Path overlay) throws IOException {
        List<Path> chain = BackingChain.files(overlay, BackingPolicy.TOP_DIRECTORY);
        if (chain.isEmpty()) {
            throw new IllegalArgumentException(overlay + " has no backing file to commit into");
        }
        Path backingPath = chain.getFirst();
        try (Qcow2Image top = Qcow2Image.openWithoutBacking(overlay, true)) {
            DiskFormat backingFormat = DiskFormat.parse("backing format", top.header().backingFormat());
            try (DiskImage backing = DiskImages.open(backingPath, backingFormat, false, BackingPolicy.TOP_DIRECTORY)) {
                if (backing.size() < top.size()) {
                    throw new IllegalArgumentException("backing file " + backingPath + " (" + backing.size()
                            + " bytes) is smaller than " + overlay + " (" + top.size() + " bytes); resize it first");
                }
                long written = copy(top, backing, 0, top.size(), top.clusterSize(), true);
                backing.flush();
                return written;
            }
        }
    }

    /**
     * Copies [from, to) of {@code in} to {@code out} in grains: with {@code onlyAllocated}, the
     * grains {@code in} (a qcow2 image) holds itself, all of them; otherwise the grains that are not
     * all zeroes (the destination is new, so it reads zeroes everywhere else). Returns bytes written.
     */
    private static long copy(DiskImage in, DiskImage out, long from, long to, long grain, boolean onlyAllocated)
            throws IOException {
        long chunk = Math.max(CHUNK, grain);
        long written = 0;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(chunk, 4096);
            MemorySegment zero = arena.allocate(grain, 4096);
            for (long at = from; at < to; at += chunk) {
                long n = Math.min(chunk, to - at);
                for (long g = 0; g < n; g += grain) {
                    long len = Math.min(grain, n - g);
                    MemorySegment piece = buf.asSlice(g, len);
                    if (onlyAllocated) {
                        if (!((Qcow2Image) in).allocatedHere(at + g)) {
                            continue;
                        }
                        in.read(at + g, piece);
                    } else {
                        if (g == 0) {
                            in.read(at, buf.asSlice(0, n));
                        }
                        if (piece.mismatch(zero.asSlice(0, len)) == -1) {
                            continue;
                        }
                    }
                    out.write(at + g, piece);
                    written += len;
                }
            }
        }
        return written;
    }
}
