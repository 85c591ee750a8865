package io.jkvm.device.virtio;

import io.jkvm.memory.GuestMemory;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;

/**
 * The payload of an inflate or deflate chain (virtio 1.2 §5.5.6): an array of le32 page frame
 * numbers of 4 KiB pages ("the page size of the balloon is 4096 bytes", §5.5.6, whatever the
 * guest's page size). Inflate releases each page's host memory, adjacent pages as one range.
 *
 * <p>Bounded work: a chain is refused whole (nothing released) unless its readable length is a
 * multiple of 4 and at most {@link #MAX_PFNS} entries, so one chain costs at most one sort of
 * {@code MAX_PFNS} ints and {@code MAX_PFNS} release calls, whatever the guest wrote; a kick
 * processes at most {@link VirtioContext#MAX_CHAINS_PER_TURN} chains. Linux sends at most 256
 * PFNs per buffer (VIRTIO_BALLOON_ARRAY_PFNS_MAX). A PFN outside guest RAM is skipped and counted.
 */
final class BalloonPages {
    /** Entries one chain may carry. */
    static final int MAX_PFNS = 1024;
    static final int PAGE_SHIFT = 12;
    static final long PAGE = 1L << PAGE_SHIFT;

    /** Releases the host memory of one page range; false when the host refused. */
    @FunctionalInterface
    interface Releaser {
        boolean release(MemorySegment range);
    }

    /** What one chain amounted to. */
    record Outcome(int pages, int outsideRam, int releaseFailures, boolean refused) {
        static final Outcome REFUSED = new Outcome(0, 0, 0, true);
    }

    private final int[] pfns = new int[MAX_PFNS];
    private final byte[] raw = new byte[MAX_PFNS * 4];

    /** The PFNs a chain carries, sorted in {@link #pfns}; -1 when the chain is malformed. */
    private int read(DescriptorChain c) {
        int len = c.readableLength();
        if (len % 4 != 0 || len > raw.length) {
            return -1;
        }
        int got = c.read(0, raw, 0, len);
        ByteBuffer b = ByteBuffer.wrap(raw, 0, got).order(ByteOrder.LITTLE_ENDIAN);
        int n = got / 4;
        for (int i = 0; i < n; i++) {
            pfns[i] = b.getInt();
        }
        // Sorted as unsigned (a PFN is a u32): neighbours become runs however the guest ordered them.
        for (int i = 0; i < n; i++) {
            pfns[i] ^= Integer.MIN_VALUE;
        }
        Arrays.sort(pfns, 0, n);
        for (int i = 0; i < n; i++) {
            pfns[i] ^= Integer.MIN_VALUE;
        }
        return n;
    }

    /** Inflate (§5.5.6.1): releases every page of the chain inside guest RAM. */
    Outcome inflate(DescriptorChain c, GuestMemory memory, Releaser releaser) {
        int n = read(c);
        if (n < 0) {
            return Outcome.REFUSED;
        }
        int pages = 0;
        int outside = 0;
        int failures = 0;
        int i = 0;
        while (i < n) {
            long start = Integer.toUnsignedLong(pfns[i]);
            int j = i + 1;
            // A run: strictly consecutive PFNs (duplicates fold in).
            long end = start + 1;
            while (j < n) {
                long p = Integer.toUnsignedLong(pfns[j]);
                if (p == end - 1) {
                    j++;
                } else if (p == end) {
                    end++;
                    j++;
                } else {
                    break;
                }
            }
            long gpa = start << PAGE_SHIFT;
            long len = (end - start) << PAGE_SHIFT;
            if (memory.isValid(gpa, len)) {
                failures += releaser.release(memory.slice(gpa, len)) ? 0 : 1;
                pages += (int) (end - start);
            } else {
                // Partly outside RAM (or across a hole between regions): page by page.
                for (long p = start; p < end; p++) {
                    if (memory.isValid(p << PAGE_SHIFT, PAGE)) {
                        failures += releaser.release(memory.slice(p << PAGE_SHIFT, PAGE)) ? 0 : 1;
                        pages++;
                    } else {
                        outside++;
                    }
                }
            }
            i = j;
        }
        return new Outcome(pages, outside, failures, false);
    }

    /**
     * Deflate (§5.5.6.2): nothing to do on the host. Released anonymous memory comes back zeroed
     * on the guest's next touch; MUST_TELL_HOST is not offered, so the driver need not even wait
     * for this chain before using the pages. The chain is only checked, as inflate checks it.
     */
    Outcome deflate(DescriptorChain c, GuestMemory memory) {
        int n = read(c);
        if (n < 0) {
            return Outcome.REFUSED;
        }
        int outside = 0;
        for (int i = 0; i < n; i++) {
            if (!memory.isValid(Integer.toUnsignedLong(pfns[i]) << PAGE_SHIFT, PAGE)) {
                outside++;
            }
        }
        return new Outcome(n - outside, outside, 0, false);
    }
}
