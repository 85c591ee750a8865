package io.jkvm.storage;

import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Which parts of a disk were written since they were last collected: one bit per chunk of
 * {@link #chunkSize()} bytes. Live migration with storage (QEMU's drive-mirror idea) marks every
 * range the guest writes, discards or zeroes, and resends the marked chunks until few are left.
 *
 * <p>The writer marks <em>after</em> its write reached the image; the copier clears a chunk
 * ({@link #collect}) <em>before</em> it reads it. Either the copier's read saw the write, or the
 * mark came after the clear and the chunk is sent again: no interleaving loses a write.
 *
 * <p>Memory is bounded by the disk's size, not by anything a guest does: chunks are 64 KiB, or
 * larger on disks over 1 TiB so the bitmap stays at most {@link #MAX_CHUNKS} bits (2 MiB), and a
 * {@link Batch} collected from it is a copy of the bitmap, never a list sized by how many chunks
 * the guest dirtied (one discard of a whole disk marks them all). Thread-safe and lock-free;
 * marking is an atomic OR per chunk (its release pairs with the collector's getAndSet).
 */
public final class DirtyChunks {
    static final int MIN_CHUNK_SHIFT = 16;
    static final long MAX_CHUNKS = 1L << 24;

    private final long size;
    private final int shift;
    private final AtomicLongArray bits;

    /** A log for a disk of {@code size} bytes, with nothing marked. */
    public DirtyChunks(long size) {
        if (size < 0) {
            throw new IllegalArgumentException("disk size " + size + " is negative");
        }
        int s = MIN_CHUNK_SHIFT;
        while (((size - 1) >>> s) + 1 > MAX_CHUNKS) {
            s++;
        }
        this.size = size;
        this.shift = s;
        this.bits = new AtomicLongArray((int) ((chunks() + 63) >>> 6));
    }

    public long chunkSize() {
        return 1L << shift;
    }

    /** Chunks of the disk (the last one may be short). */
    public long chunks() {
        return size == 0 ? 0 : ((size - 1) >>> shift) + 1;
    }

    /** Disk bytes the chunk at {@code index} covers: its offset is {@code index * chunkSize()}. */
    public long chunkLength(long index) {
        return Math.min(chunkSize(), size - (index << shift));
    }

    /** Marks every chunk that {@code [offset, offset + length)} touches; a range outside the disk is clipped. */
    public void mark(long offset, long length) {
        if (length <= 0 || offset >= size || offset < 0) {
            return;
        }
        long last = (Math.min(size, offset + Math.min(length, size)) - 1) >>> shift;
        for (long c = offset >>> shift; c <= last; c++) {
            long bit = 1L << (c & 63);
            bits.getAndUpdate((int) (c >>> 6), w -> w | bit);
        }
    }

    /** Marks the whole disk. */
    public void markAll() {
        mark(0, size);
    }

    /** The marked chunks, cleared here (before the caller reads them). */
    public Batch collect() {
        long n = 0;
        long[] words = new long[bits.length()];
        for (int w = 0; w < words.length; w++) {
            words[w] = bits.getAndSet(w, 0);
            n += Long.bitCount(words[w]);
        }
        return new Batch(words, n);
    }

    /** Marks a collected batch again (collected, then not sent after all). */
    public void requeue(Batch batch) {
        for (int w = 0; w < batch.words.length; w++) {
            long v = batch.words[w];
            if (v != 0) {
                bits.getAndUpdate(w, x -> x | v);
            }
        }
    }

    /** Chunks collected at once: a copy of the bitmap, walked in ascending order. */
    public static final class Batch {
        private final long[] words;
        private final long count;

        private Batch(long[] words, long count) {
            this.words = words;
            this.count = count;
        }

        public long count() {
            return count;
        }

        /** The first chunk at or after {@code from} in the batch, or -1. */
        public long next(long from) {
            if (from < 0) {
                from = 0;
            }
            if ((from >>> 6) >= words.length) {
                return -1;
            }
            int w = (int) (from >>> 6);
            long v = words[w] & (-1L << (from & 63));
            while (v == 0) {
                if (++w == words.length) {
                    return -1;
                }
                v = words[w];
            }
            return ((long) w << 6) + Long.numberOfTrailingZeros(v);
        }

        /** Calls {@code action} with each chunk, ascending. */
        public void forEach(java.util.function.LongConsumer action) {
            for (long c = next(0); c >= 0; c = next(c + 1)) {
                action.accept(c);
            }
        }
    }

    /** Marked chunks right now (a moment's count: writers may add more). */
    public long count() {
        long n = 0;
        for (int w = 0; w < bits.length(); w++) {
            n += Long.bitCount(bits.get(w));
        }
        return n;
    }
}
