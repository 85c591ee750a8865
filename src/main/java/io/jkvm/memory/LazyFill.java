package io.jkvm.memory;

import io.jkvm.kvm.Native;
import io.jkvm.kvm.NativeException;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * Fills guest RAM on first touch from a {@link ChunkSource} (a snapshot memory file; the source
 * of a post-copy migration, for the chunks its pre-copy left behind), through a
 * {@link UserFaultFd}: the guest runs before its RAM has been read, and each chunk is checked
 * by the source as it is read, so a restore costs the same whatever the guest's size and a
 * chunk changed after the restore began is still refused.
 *
 * <p>One platform thread serves the faults. When no fault is pending it fills the next chunk
 * nobody has touched yet, so the lazy phase ends after one pass over the file; then the ranges
 * are unregistered and the RAM is ordinary anonymous memory. Work per fault is bounded: one
 * chunk read and checked, one UFFDIO_COPY. The thread never touches guest RAM itself (a fault
 * of its own would wait for itself).
 *
 * <p>Java code must not take such a fault: a thread blocked in a page fault while running Java
 * code never reaches a safepoint, so the first garbage collection would stop every other thread,
 * the fill thread included, and the JVM would hang. {@link GuestMemory} therefore asks for the
 * pages of every view it hands out first ({@link #prefault}: MADV_POPULATE_READ, a system call,
 * during which the thread counts as being outside Java), and bulk readers of RAM (snapshot,
 * migration) wait for the fill to end ({@link GuestMemory#awaitPresent}). vCPUs fault inside
 * KVM_RUN, outside Java too.
 *
 * <p>A chunk already filled can fault again after MADV_DONTNEED (the balloon): anonymous memory
 * reads as zeros then, so the page gets a zero page.
 *
 * <p>A chunk the source refuses (tampered file, I/O error) ends the fill: {@code onFailure} gets
 * the reason first (the VMM stops the machine with it), then every chunk not filled yet is
 * fenced, replaced by a mapping of an empty file, so that any access to it fails (SIGBUS, which
 * the JVM turns into an InternalError on the accessing thread; EFAULT for KVM) instead of
 * reading zeros in place of the guest's data, and the threads waiting on such chunks are woken
 * to that failure. A thread blocked inside KVM_RUN would otherwise never leave it.
 */
public final class LazyFill {
    /** Where the bytes come from. Called on the fill thread only; closed when the fill ends. */
    public interface ChunkSource extends AutoCloseable {
        /**
         * Writes chunk {@code index}'s checked bytes into {@code into} (exactly the chunk's
         * length); throws with a reason a user can act on when the chunk is missing or fails
         * its check.
         */
        void read(int index, MemorySegment into) throws Exception;

        /** Every chunk is in RAM (before {@link #close}; not called when the fill failed or was stopped). */
        default void filled() throws Exception {}

        /**
         * Called by {@link #stop} from another thread, before it waits for the fill thread: a
         * source whose {@link #read} can block (on a network peer) makes it return now.
         */
        default void interrupt() {}

        @Override
        default void close() throws Exception {}
    }

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(LazyFill.class);
    private static final int PAGE = 4096;
    private static final int BATCH = 64;
    /** MADV_POPULATE_READ (Linux 5.14): fault the range in as reads would. */
    static final int MADV_POPULATE_READ = 22;

    private final GuestMemory memory;
    private final UserFaultFd uffd;
    private final List<MemorySegment> ranges = new ArrayList<>();
    private final int chunkSize;
    /** Per region (in {@link GuestMemory#regions} order): host address, size, index of its first chunk. */
    private final long[] regionHost;
    private final long[] regionSize;
    private final int[] regionFirst;
    private final long[] chunkHost;
    private final long[] chunkLength;
    private final boolean[] filled;
    private final ChunkSource source;
    private final boolean ahead;
    private final Consumer<Exception> onFailure;
    private final Arena arena;
    private final MemorySegment buffer;
    private final MemorySegment msgs;
    private final MemorySegment pollFds;
    private final CountDownLatch done = new CountDownLatch(1);
    private int stopFd = -1;
    private Thread thread;
    private int remaining;
    private int nextPrefetch;
    private volatile long faultFills;
    private volatile long prefetchFills;
    private volatile long zeroPages;
    private volatile Exception failure;
    private volatile boolean complete;
    /** Set once the ranges are unregistered: views need no prefault from then on. */
    private volatile boolean released;
    /** Set when a release begins (once: on the fill thread, or in {@link #stop} after it ended). */
    private boolean releasing;
    private boolean stopped;
    private final Object releaseLock = new Object();

    private LazyFill(UserFaultFd uffd, GuestMemory memory, int chunkSize, ChunkSource source, boolean ahead,
            Consumer<Exception> onFailure, Arena arena, BitSet missing) {
        this.memory = memory;
        this.uffd = uffd;
        this.chunkSize = chunkSize;
        this.ahead = ahead;
        this.source = source;
        this.onFailure = onFailure;
        this.arena = arena;
        List<GuestMemory.Region> regions = memory.regions();
        RamChunks numbering = RamChunks.of(memory, chunkSize); // the numbering a ChunkSource reads by
        regionHost = new long[regions.size()];
        regionSize = new long[regions.size()];
        regionFirst = new int[regions.size()];
        for (int i = 0; i < regions.size(); i++) {
            GuestMemory.Region r = regions.get(i);
            regionHost[i] = r.host().address();
            regionSize[i] = r.size();
            regionFirst[i] = numbering.indexOf(r.guestAddress());
            ranges.add(r.host());
        }
        int count = numbering.count();
        chunkHost = new long[count];
        chunkLength = new long[count];
        filled = new boolean[count];
        for (int i = 0; i < count; i++) {
            chunkHost[i] = numbering.region(i).host().address() + numbering.offset(i);
            chunkLength[i] = numbering.length(i);
            filled[i] = missing != null && !missing.get(i);
        }
        remaining = missing == null ? count : missing.get(0, count).cardinality();
        buffer = arena.allocate(chunkSize, PAGE);
        msgs = arena.allocate((long) BATCH * UserFaultFd.MSG_BYTES, 8);
        pollFds = arena.allocate(16, 8);
    }

    /**
     * Registers every region of {@code memory} (fresh private anonymous RAM nobody has touched)
     * and starts filling it; the fill owns {@code source} from then on. With {@code ahead} the
     * fill thread reads untouched chunks while no fault waits (what a restore wants: the lazy
     * phase ends); without, only touched chunks are read and the fill never completes. Throws,
     * leaving the memory and the source as they were, when the host has no usable userfaultfd
     * or MADV_POPULATE_READ; the caller then reads the memory eagerly instead.
     */
    public static LazyFill start(GuestMemory memory, int chunkSize, ChunkSource source, boolean ahead,
            Consumer<Exception> onFailure) {
        return start(memory, chunkSize, source, ahead, onFailure, null);
    }

    /**
     * As above, for RAM that holds the right bytes already except in the chunks of {@code missing}
     * (post-copy: the destination of a live migration, whose pre-copy rounds left those behind).
     * Those chunks are given back to the kernel once the ranges are registered, so their next
     * touch faults to the fill; the other chunks stay as they are (a page of theirs never
     * written reads as zeros). {@code missing} null: every chunk, fresh RAM. A failure to start
     * leaves the source open; chunks of {@code missing} may have been emptied already.
     */
    public static LazyFill start(GuestMemory memory, int chunkSize, ChunkSource source, boolean ahead,
            Consumer<Exception> onFailure, BitSet missing) {
        if (chunkSize <= 0 || chunkSize % PAGE != 0) {
            throw new IllegalArgumentException("chunk size must be a positive multiple of 4 KiB: " + chunkSize);
        }
        requirePopulate();
        UserFaultFd uffd = UserFaultFd.open();
        Arena arena = Arena.ofShared();
        LazyFill f = null;
        List<MemorySegment> registered = new ArrayList<>();
        try {
            f = new LazyFill(uffd, memory, chunkSize, source, ahead, onFailure, arena, missing);
            f.stopFd = Native.eventfd(0, Native.EFD_CLOEXEC | Native.EFD_NONBLOCK);
            for (MemorySegment r : f.ranges) {
                uffd.register(r);
                registered.add(r);
            }
            if (missing != null) {
                f.dropMissing();
            }
            memory.startFill(f);
        } catch (RuntimeException e) {
            try {
                for (MemorySegment r : registered) {
                    uffd.unregister(r);
                }
            } finally {
                uffd.close();
                if (f != null && f.stopFd >= 0) {
                    Native.close(f.stopFd);
                }
                arena.close();
            }
            throw e;
        }
        f.thread = new Thread(f::serve, "jkvm-lazy-ram");
        f.thread.setDaemon(true);
        f.thread.start();
        return f;
    }

    /**
     * Empties the chunks still to be filled (registered already: a touch from here on faults to
     * the fill, never reads the stale bytes or zeros). Before any vCPU runs.
     */
    private void dropMissing() {
        for (int i = 0; i < filled.length; i++) {
            if (!filled[i] && !Native.madvise(MemorySegment.ofAddress(chunkHost[i]).reinterpret(chunkLength[i]),
                    Native.MADV_DONTNEED)) {
                throw new IllegalStateException("madvise(MADV_DONTNEED) of a guest RAM chunk failed");
            }
        }
    }

    /**
     * Throws, saying why, when this host cannot fill RAM on first touch (no usable
     * userfaultfd, no MADV_POPULATE_READ); for a peer that must know before it relies on it.
     */
    public static void probe() {
        requirePopulate();
        UserFaultFd.open().close();
    }

    /** Refuses a host whose kernel lacks MADV_POPULATE_READ (before 5.14), which {@link #prefault} needs. */
    private static void requirePopulate() {
        MemorySegment probe = Native.mmap(0, PAGE, Native.PROT_READ | Native.PROT_WRITE,
                Native.MAP_PRIVATE | Native.MAP_ANONYMOUS, -1, 0);
        try {
            if (!Native.madvise(probe, MADV_POPULATE_READ)) {
                throw new IllegalStateException("the kernel has no MADV_POPULATE_READ (Linux 5.14)");
            }
        } finally {
            Native.munmap(probe);
        }
    }

    /**
     * Makes the pages of {@code view} (guest RAM) present before Java code reads or writes them,
     * waiting outside Java while the fill brings them in. Nothing to do once the fill ended.
     * A view of a fenced chunk stays absent: the access then fails as fenced memory does.
     */
    void prefault(MemorySegment view) {
        if (released || view.byteSize() == 0) {
            return;
        }
        long start = view.address() & -PAGE;
        long end = (view.address() + view.byteSize() + PAGE - 1) & -PAGE;
        Native.madvise(MemorySegment.ofAddress(start).reinterpret(end - start), MADV_POPULATE_READ);
    }

    private void serve() {
        try {
            while (remaining > 0) {
                pollFds.set(ValueLayout.JAVA_INT, 0, uffd.fd());
                pollFds.set(ValueLayout.JAVA_SHORT, 4, Native.POLLIN);
                pollFds.set(ValueLayout.JAVA_SHORT, 6, (short) 0);
                pollFds.set(ValueLayout.JAVA_INT, 8, stopFd);
                pollFds.set(ValueLayout.JAVA_SHORT, 12, Native.POLLIN);
                pollFds.set(ValueLayout.JAVA_SHORT, 14, (short) 0);
                // Filling ahead, do not wait: nothing pending means the next untouched chunk.
                int ready = Native.poll(pollFds, 2, ahead ? 0 : -1);
                if (ready < 0 && ready != -Native.EINTR) {
                    throw new NativeException("poll(userfaultfd)", -ready);
                }
                if ((pollFds.get(ValueLayout.JAVA_SHORT, 14) & Native.POLLIN) != 0) {
                    return; // stopped before the fill ended: stop() releases
                }
                int n = uffd.read(msgs);
                if (n > 0) {
                    for (int i = 0; i < n; i++) {
                        long address = UserFaultFd.faultAddress(msgs, i);
                        if (address >= 0) {
                            fault(address);
                        }
                    }
                } else if (ahead) {
                    prefetch();
                }
            }
            complete = true;
            try {
                source.filled();
            } catch (Exception e) { // everything is here: telling the source is a courtesy, not a failure
                LOG.warn("guest RAM filled, but its source could not be told: {}", e.toString());
            }
            release();
            LOG.debug("guest RAM filled: {} chunks on touch, {} ahead, {} zero pages", faultFills, prefetchFills,
                    zeroPages);
        } catch (Throwable t) {
            Exception e = t instanceof Exception x ? x : new IllegalStateException("guest RAM fill failed: " + t, t);
            failure = e;
            LOG.error("guest RAM fill stopped: {}", e.getMessage());
            try {
                onFailure.accept(e);
            } finally {
                fenceUnfilled();
            }
        } finally {
            done.countDown();
        }
    }

    private void fault(long address) throws Exception {
        int index = chunkOf(address);
        if (index < 0) {
            return; // not in a registered range: cannot happen, and nothing to fill
        }
        if (!filled[index]) {
            fill(index, true);
        } else if (uffd.zeroPage(address & -PAGE, PAGE)) {
            zeroPages++;
        }
    }

    private void prefetch() throws Exception {
        while (nextPrefetch < filled.length && filled[nextPrefetch]) {
            nextPrefetch++;
        }
        if (nextPrefetch < filled.length) {
            fill(nextPrefetch, false);
        }
    }

    private void fill(int index, boolean touched) throws Exception {
        long length = chunkLength[index];
        MemorySegment data = buffer.asSlice(0, length);
        source.read(index, data);
        // Counted before the copy wakes the waiters: what they do next may read the counts.
        if (touched) {
            faultFills++;
        } else {
            prefetchFills++;
        }
        long copied = uffd.copy(chunkHost[index], data, length);
        if (copied != length) {
            // Some page of the chunk is present already (nothing but this thread fills them, so
            // only after a stray zero page): copy the rest page by page.
            for (long off = Math.max(0, copied); off < length; off += PAGE) {
                uffd.copy(chunkHost[index] + off, data.asSlice(off, PAGE), PAGE);
            }
        }
        filled[index] = true;
        remaining--;
    }

    /** The chunk holding host address {@code address}, or -1. Regions are looked up one by one: their host order is the kernel's. */
    int chunkOf(long address) {
        for (int r = 0; r < regionHost.length; r++) {
            long off = address - regionHost[r];
            if (off >= 0 && off < regionSize[r]) {
                return regionFirst[r] + (int) (off / chunkSize);
            }
        }
        return -1;
    }

    /**
     * After a failure: every run of chunks not filled fails on access from now on, its waiters
     * are woken to that, and the ranges are released whatever goes wrong on the way.
     */
    private void fenceUnfilled() {
        int empty = -1;
        try {
            empty = Native.memfdCreate("jkvm-refused-ram", Native.MFD_CLOEXEC);
            for (int i = 0; i < filled.length; ) {
                if (filled[i]) {
                    i++;
                    continue;
                }
                int j = i;
                while (j + 1 < filled.length && !filled[j + 1] && chunkHost[j + 1] == chunkHost[j] + chunkLength[j]) {
                    j++;
                }
                long start = chunkHost[i];
                long length = chunkHost[j] + chunkLength[j] - start;
                // Beyond the end of an empty file: every access is SIGBUS. MAP_FIXED replaces
                // the registered range, which no longer reports faults.
                Native.mmap(start, length, Native.PROT_READ | Native.PROT_WRITE, Native.MAP_SHARED | Native.MAP_FIXED,
                        empty, 0);
                uffd.wake(start, length);
                i = j + 1;
            }
        } catch (RuntimeException e) {
            LOG.error("fencing the guest RAM not filled failed: {}", e.getMessage());
        } finally {
            if (empty >= 0) {
                Native.close(empty); // the mappings keep it
            }
            // The filled chunks are ordinary memory from here on (a page given back reads as
            // zeros); closing the userfaultfd wakes anyone still waiting.
            release();
        }
    }

    /** Unregisters the ranges, closes the userfaultfd and the source; once. */
    private void release() {
        synchronized (releaseLock) { // not this: stop() holds that while it joins the fill thread
            if (releasing) {
                return;
            }
            releasing = true;
        }
        try {
            for (MemorySegment r : ranges) {
                uffd.unregister(r);
            }
        } catch (RuntimeException e) {
            LOG.error("unregistering guest RAM from the userfaultfd: {}", e.getMessage());
        } finally {
            // Prefaulting ends only now: until the ranges are unregistered a page still absent
            // (post-copy leaves many, zero pages of chunks it kept) would fault to nobody.
            released = true;
            if (failure == null) {
                memory.endFill(this); // after a failure awaitPresent must keep saying so
            }
            uffd.close();
            arena.close();
            try {
                source.close();
            } catch (Exception e) {
                LOG.debug("closing the guest RAM source: {}", e.toString());
            }
        }
    }

    /** Waits until every chunk is in RAM or the fill ended otherwise; true when filled. */
    public boolean awaitFilled(Duration timeout) throws InterruptedException {
        done.await(timeout.toNanos(), TimeUnit.NANOSECONDS);
        return complete;
    }

    /** Waits, without a bound, until the fill thread has ended (filled, failed or stopped). */
    void awaitEnded() {
        boolean interrupted = false;
        while (true) {
            try {
                done.await();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    public boolean isComplete() {
        return complete;
    }

    /** Why the fill stopped, or null. */
    public Exception failure() {
        return failure;
    }

    /** Chunks filled because something touched them, and ahead of any touch. */
    public long faultFills() {
        return faultFills;
    }

    public long prefetchFills() {
        return prefetchFills;
    }

    /**
     * Stops the fill thread and releases the ranges: threads still waiting on a chunk get zero
     * pages, so only the VMM tearing the machine down may call this while chunks are missing.
     */
    public synchronized void stop() {
        if (stopped) {
            return;
        }
        stopped = true;
        if (thread.isAlive()) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment one = a.allocate(ValueLayout.JAVA_LONG);
                one.set(ValueLayout.JAVA_LONG, 0, 1L);
                Native.write(stopFd, one, 8);
            }
            source.interrupt(); // a read blocked on a peer would keep the thread from seeing the eventfd
        }
        boolean interrupted = false;
        while (thread.isAlive()) {
            try {
                thread.join();
            } catch (InterruptedException e) {
                interrupted = true; // the ranges must not be released under a running fill
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        Native.close(stopFd); // only now: the thread may have ended on its own while we wrote to it
        release();
    }
}
