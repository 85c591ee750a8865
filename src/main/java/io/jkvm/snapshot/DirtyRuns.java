package io.jkvm.snapshot;

import io.jkvm.memory.GuestRam;
import io.jkvm.vmm.DirtyTracker;

import java.util.ArrayList;
import java.util.List;

/**
 * The pages a Diff snapshot holds, as runs of consecutive 4 KiB pages. Valid means: at most
 * {@link #MAX_RUNS} runs (they travel in the state file's JSON header), each page-aligned, at
 * least one page, inside one RAM region of a machine with {@code memoryBytes} of RAM
 * ({@link GuestRam#layout}), sorted by address and disjoint (so no page appears twice).
 */
record DirtyRuns(long memoryBytes, List<SnapshotHeader.PageRun> runs) {
    static final int MAX_RUNS = 16384;
    static final long PAGE = DirtyTracker.PAGE;

    DirtyRuns {
        if (runs == null) {
            throw new IllegalArgumentException("dirty page list is missing");
        }
        runs = List.copyOf(runs); // also refuses null elements
        if (runs.size() > MAX_RUNS) {
            throw new IllegalArgumentException("dirty page list has " + runs.size() + " runs, the limit is " + MAX_RUNS);
        }
        List<long[]> layout = GuestRam.layout(memoryBytes);
        long next = Long.MIN_VALUE;
        for (SnapshotHeader.PageRun r : runs) {
            if ((r.gpa() & (PAGE - 1)) != 0 || r.pages() < 1) {
                throw new IllegalArgumentException("dirty run at 0x" + Long.toHexString(r.gpa()) + " (" + r.pages()
                        + " pages) is not page-aligned or empty");
            }
            if (regionOf(layout, r) < 0) {
                throw new IllegalArgumentException("dirty run at 0x" + Long.toHexString(r.gpa()) + " (" + r.pages()
                        + " pages) is not inside one guest RAM region");
            }
            if (r.gpa() < next) {
                throw new IllegalArgumentException("dirty run at 0x" + Long.toHexString(r.gpa())
                        + " is out of order or overlaps the previous one");
            }
            next = r.gpa() + r.pages() * PAGE;
        }
    }

    /** Index of the region holding the whole run, or -1 (overflow-safe). */
    private static int regionOf(List<long[]> layout, SnapshotHeader.PageRun r) {
        for (int i = 0; i < layout.size(); i++) {
            long start = layout.get(i)[0], size = layout.get(i)[1];
            if (r.gpa() >= start && r.gpa() - start < size && r.pages() <= (size - (r.gpa() - start)) / PAGE) {
                return i;
            }
        }
        return -1;
    }

    /**
     * Runs covering the page addresses {@code gpas} (ascending, as {@link DirtyTracker} returns
     * them). Over {@link #MAX_RUNS}, runs of a region closer than a growing gap are joined: the
     * clean pages in between are saved too, which is harmless (their content is current).
     */
    static DirtyRuns of(long memoryBytes, long[] gpas) {
        List<long[]> layout = GuestRam.layout(memoryBytes);
        long gap = 0;
        while (true) {
            List<SnapshotHeader.PageRun> out = new ArrayList<>();
            long start = -1, end = -1;
            int region = -1;
            for (long gpa : gpas) {
                int reg = regionOf(layout, new SnapshotHeader.PageRun(gpa, 1));
                if (reg < 0) {
                    throw new IllegalArgumentException("dirty page 0x" + Long.toHexString(gpa) + " is outside guest RAM");
                }
                if (start >= 0 && reg == region && gpa >= end && gpa - end <= gap) {
                    end = gpa + PAGE;
                    continue;
                }
                if (start >= 0) {
                    out.add(new SnapshotHeader.PageRun(start, (end - start) / PAGE));
                }
                start = gpa;
                end = gpa + PAGE;
                region = reg;
            }
            if (start >= 0) {
                out.add(new SnapshotHeader.PageRun(start, (end - start) / PAGE));
            }
            if (out.size() <= MAX_RUNS) {
                return new DirtyRuns(memoryBytes, out);
            }
            gap = gap == 0 ? PAGE : gap * 2;
        }
    }

    long totalPages() {
        return runs.stream().mapToLong(SnapshotHeader.PageRun::pages).sum();
    }

    /** Where guest-physical {@code gpa} lies in a memory file (regions back to back, as {@link MemoryFile} writes). */
    long fileOffset(long gpa) {
        long offset = 0;
        for (long[] r : GuestRam.layout(memoryBytes)) {
            if (gpa >= r[0] && gpa - r[0] < r[1]) {
                return offset + gpa - r[0];
            }
            offset += r[1];
        }
        throw new IllegalArgumentException("0x" + Long.toHexString(gpa) + " is outside guest RAM");
    }
}
