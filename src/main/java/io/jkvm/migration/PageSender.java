package io.jkvm.migration;

import io.jkvm.memory.GuestMemory;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.function.BooleanSupplier;

/**
 * Copies guest pages into PAGES / ZERO_PAGES records. Reads RAM through the regions directly,
 * not {@link GuestMemory#slice}, so the copy is not itself logged as a userspace write.
 */
final class PageSender {
    private static final MemorySegment ZERO = Arena.global().allocate(Wire.PAGE);

    private final List<GuestMemory.Region> regions;
    private final RecordWriter out;
    private final BooleanSupplier cancelled;
    private final long[] gpas = new long[Wire.MAX_BATCH];
    private final byte[] data = new byte[Wire.MAX_BATCH * Wire.PAGE];
    private final long[] zeros = new long[Wire.MAX_ZERO_BATCH];
    private int n;
    private int z;
    // The migration thread's counters, published to the volatile ones every PUBLISH_EVERY pages
    // (a fence per page would slow the stop-and-copy) for progress reports read elsewhere.
    private long pagesSent;
    private long roundDone;
    /** Pages of the current round (round 0: all of RAM; later: the dirty set) and how many were looked at. */
    private volatile long roundPages;
    private volatile long shownSent;
    private volatile long shownDone;
    private static final int PUBLISH_EVERY = 256;

    PageSender(GuestMemory memory, RecordWriter out, BooleanSupplier cancelled) {
        this.regions = memory.regions();
        this.out = out;
        this.cancelled = cancelled;
    }

    /** Pages sent so far: exact on the migration thread. */
    long pagesSent() {
        return pagesSent;
    }

    /** Pages sent so far as last published, for other threads. */
    long pagesSentSoFar() {
        return shownSent;
    }

    /** Pages of the current round. */
    long roundPages() {
        return roundPages;
    }

    /** Pages of the current round not looked at yet (zero pages included: round 0 skips them as it meets them). */
    long roundRemaining() {
        return Math.max(0, roundPages - shownDone);
    }

    /** Round 0: every page of RAM except all-zero ones (the destination's fresh RAM is zero already). */
    long sendAll() throws IOException {
        long count = 0;
        long total = 0;
        for (GuestMemory.Region r : regions) {
            total += r.size() / Wire.PAGE;
        }
        startRound(total);
        for (GuestMemory.Region r : regions) {
            for (long off = 0; off < r.size(); off += Wire.PAGE) {
                count += send(r, off, false) ? 1 : 0;
                visited();
            }
        }
        publish();
        flush();
        return count;
    }

    /** Later rounds and the final pause: the given pages, zero pages as ZERO_PAGES (they may hold old data there). */
    long send(long[] dirty) throws IOException {
        startRound(dirty.length);
        for (long gpa : dirty) {
            GuestMemory.Region r = region(gpa);
            send(r, gpa - r.guestAddress(), true);
            visited();
        }
        publish();
        flush();
        return dirty.length;
    }

    private void startRound(long pages) {
        roundDone = 0;
        roundPages = pages;
        publish();
    }

    private void visited() {
        if (++roundDone % PUBLISH_EVERY == 0) {
            publish();
        }
    }

    private void publish() {
        shownSent = pagesSent;
        shownDone = roundDone;
    }

    private GuestMemory.Region region(long gpa) {
        for (GuestMemory.Region r : regions) {
            if (gpa >= r.guestAddress() && gpa < r.end()) {
                return r;
            }
        }
        throw new IllegalStateException("dirty log named gpa 0x" + Long.toHexString(gpa) + " outside guest RAM");
    }

    private boolean send(GuestMemory.Region r, long off, boolean zerosToo) throws IOException {
        MemorySegment page = r.host().asSlice(off, Wire.PAGE);
        long gpa = r.guestAddress() + off;
        if (page.mismatch(ZERO) < 0) {
            if (!zerosToo) {
                return false;
            }
            zeros[z++] = gpa;
            if (z == zeros.length) {
                flushZeros();
            }
        } else {
            MemorySegment.copy(page, ValueLayout.JAVA_BYTE, 0, data, n * Wire.PAGE, Wire.PAGE);
            gpas[n++] = gpa;
            if (n == gpas.length) {
                flushPages();
            }
        }
        pagesSent++;
        return true;
    }

    private void flushPages() throws IOException {
        if (cancelled.getAsBoolean()) {
            throw new MigrationCancelledException();
        }
        if (n > 0) {
            out.pages(gpas, data, n);
            n = 0;
        }
    }

    private void flushZeros() throws IOException {
        if (z > 0) {
            out.zeroPages(zeros, z);
            z = 0;
        }
    }

    private void flush() throws IOException {
        flushPages();
        flushZeros();
    }
}
