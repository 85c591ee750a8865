package io.jkvm.vmm;

import io.jkvm.memory.GuestMemory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * Pages written since the last {@link #collect}: the union of two logs.
 * <ul>
 *   <li>KVM's dirty log (KVM_MEM_LOG_DIRTY_PAGES + KVM_GET_DIRTY_LOG, api.rst 4.8 and 4.35): pages
 *       the guest wrote.</li>
 *   <li>A userspace bitmap fed by {@link GuestMemory#trackWrites}: pages the VMM itself wrote
 *       (virtio devices completing requests into guest buffers, used rings), which KVM never
 *       sees because they do not go through the guest's MMU. Every range a device maps is
 *       counted, so pages a device only read are resent too: cheap and never wrong.</li>
 * </ul>
 * A device marks a page when it takes a view of it, but may write through that view later (a
 * disk read completing after the next round collected and sent the page). So the userspace
 * log also keeps every page it ever saw, and {@link #collectFinal} resends all of them at the
 * pause, after device I/O has been drained: nothing a device wrote can be missed.
 * Logging starts before round 0 copies all of RAM, so every write after a page was copied is
 * caught. KVM_CLEAR_DIRTY_LOG is not used: without KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 enabled,
 * KVM_GET_DIRTY_LOG fetches and re-protects in one call, which is all pre-copy needs.
 *
 * <p>Two users: live migration (a tracker of its own for the duration of a migration) and Diff
 * snapshots (the machine's resident tracker, {@link Machine#trackDirtyPages()}, Firecracker's
 * {@code track_dirty_pages}). A Diff is only meaningful against a base: {@link #hasBaseline}
 * says whether RAM was saved in full (or restored) since tracking began with nothing lost since.
 * A migration tracker steals KVM's log from the resident one, so when it stops it hands the
 * logs back and clears that baseline: the next Diff is refused until a Full snapshot.
 */
public final class DirtyTracker implements AutoCloseable {
    /** The page size of both logs (KVM's dirty bitmap has one bit per 4 KiB page). */
    public static final int PAGE = 4096;

    private final Machine machine;
    private final List<GuestMemory.Region> regions;
    private final AtomicLongArray[] userspace;
    private final AtomicLongArray[] everTouched;
    private final MemorySegment[] kvmBitmaps;
    private final Arena arena = Arena.ofShared();
    private boolean on;
    private volatile boolean baseline;

    public DirtyTracker(Machine machine) {
        this.machine = machine;
        this.regions = machine.memory().regions();
        this.userspace = new AtomicLongArray[regions.size()];
        this.everTouched = new AtomicLongArray[regions.size()];
        this.kvmBitmaps = new MemorySegment[regions.size()];
        for (int i = 0; i < regions.size(); i++) {
            long words = (pages(regions.get(i)) + 63) / 64;
            userspace[i] = new AtomicLongArray((int) words);
            everTouched[i] = new AtomicLongArray((int) words);
            kvmBitmaps[i] = arena.allocate(words * 8, 8);
        }
    }

    public static long pages(GuestMemory.Region r) {
        return r.size() / PAGE;
    }

    public void start() {
        machine.memory().trackWrites(this::touched);
        machine.setDirtyLogging(true);
        on = true;
    }

    private void touched(long gpa, long len) {
        if (len <= 0) {
            return;
        }
        for (int i = 0; i < regions.size(); i++) {
            GuestMemory.Region r = regions.get(i);
            if (gpa >= r.guestAddress() && gpa < r.end()) {
                long first = (gpa - r.guestAddress()) / PAGE;
                long last = (Math.min(gpa + len, r.end()) - 1 - r.guestAddress()) / PAGE;
                for (long p = first; p <= last; p++) {
                    int w = (int) (p >>> 6);
                    long bit = 1L << (p & 63);
                    if ((userspace[i].get(w) & bit) == 0) {
                        userspace[i].getAndAccumulate(w, bit, (a, b) -> a | b);
                    }
                    if ((everTouched[i].get(w) & bit) == 0) {
                        everTouched[i].getAndAccumulate(w, bit, (a, b) -> a | b);
                    }
                }
                return;
            }
        }
    }

    /** The guest-physical addresses of pages dirtied since the previous call (or since {@link #start}), ascending. */
    public long[] collect() {
        return collect(false);
    }

    /** At the pause: {@link #collect()} plus every page userspace touched since {@link #start}. */
    public long[] collectFinal() {
        return collect(true);
    }

    private long[] collect(boolean withEverTouched) {
        long[] out = new long[64];
        int n = 0;
        for (int i = 0; i < regions.size(); i++) {
            GuestMemory.Region r = regions.get(i);
            machine.vm().getDirtyLog(i, kvmBitmaps[i]);
            long words = kvmBitmaps[i].byteSize() / 8;
            for (int w = 0; w < words; w++) {
                long bits = kvmBitmaps[i].getAtIndex(ValueLayout.JAVA_LONG, w) | userspace[i].getAndSet(w, 0)
                        | (withEverTouched ? everTouched[i].get(w) : 0);
                while (bits != 0) {
                    int b = Long.numberOfTrailingZeros(bits);
                    bits &= bits - 1;
                    long page = (long) w * 64 + b;
                    if (page < pages(r)) {
                        if (n == out.length) {
                            out = java.util.Arrays.copyOf(out, n * 2);
                        }
                        out[n++] = r.guestAddress() + page * PAGE;
                    }
                }
            }
        }
        return java.util.Arrays.copyOf(out, n);
    }

    /** Marks pages collected but not sent as dirty again, so the next {@link #collect} returns them. */
    public void requeue(long[] gpas) {
        for (long gpa : gpas) {
            touched(gpa, PAGE);
        }
    }

    /**
     * True when the pages {@link #collectFinal} returns, applied to the last saved or restored
     * RAM image, give the current RAM (see {@link #setBaseline}).
     */
    public boolean hasBaseline() {
        return baseline;
    }

    /** Set after a Full snapshot saved (or a restore loaded) all of RAM; cleared when a log was lost. */
    public void setBaseline(boolean b) {
        baseline = b;
    }

    /**
     * Turns both logs off (the VM runs on without the logging overhead), unless the machine has
     * a resident tracker other than this one: then the logs go back to it, minus what this one
     * collected, so it loses its baseline.
     */
    public void stop() {
        if (on) {
            on = false;
            DirtyTracker resident = machine.dirtyTracker();
            if (resident != null && resident != this) {
                resident.baseline = false;
                machine.memory().trackWrites(resident::touched);
            } else {
                machine.memory().trackWrites(null);
                machine.setDirtyLogging(false);
            }
        }
    }

    @Override
    public void close() {
        try {
            stop();
        } finally {
            arena.close();
        }
    }
}
