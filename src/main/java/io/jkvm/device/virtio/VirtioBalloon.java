package io.jkvm.device.virtio;

import io.jkvm.device.RateLimitedLog;
import io.jkvm.memory.HostPages;
import io.jkvm.snapshot.DeviceMismatchException;
import io.jkvm.snapshot.RecordCodec;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.TimeUnit;

/**
 * The traditional memory balloon (virtio 1.2 §5.5), device ID 5. The host sets a target
 * ({@code num_pages}, in 4 KiB pages) in config space; the driver inflates (gives pages to the
 * device through the inflate queue, whose host memory this device releases) or deflates towards
 * it and writes how many pages it holds ({@code actual}).
 *
 * <p>Features offered (§5.5.3): STATS_VQ when a statistics interval is set, DEFLATE_ON_OOM when
 * asked. MUST_TELL_HOST is not offered: deflating needs nothing from the host (released memory
 * refills on touch), so the driver may reuse pages at once (§5.5.6.2).
 *
 * <p>Statistics (§5.5.6.3): the driver puts one buffer on the stats queue; the device keeps it
 * and, every interval, hands it back used, which asks the driver for fresh numbers in a new
 * buffer. The interval is a timer on the I/O thread ({@link VirtioContext#kickAfter}).
 *
 * <p>Threads: the API thread sets the target and interval and reads statistics; the I/O thread
 * serves the queues; a vCPU reads and writes config. Shared fields are guarded by this object.
 */
public final class VirtioBalloon implements VirtioDevice {
    public static final int DEVICE_TYPE = 5;
    public static final int INFLATE = 0;
    public static final int DEFLATE = 1;
    public static final int STATS = 2;
    public static final int QUEUE_SIZE = 256;
    public static final int F_MUST_TELL_HOST = 0;
    public static final int F_STATS_VQ = 1;
    public static final int F_DEFLATE_ON_OOM = 2;
    /** le32 num_pages, le32 actual (§5.5.4); the later fields belong to features not offered. */
    public static final int CONFIG_SIZE = 8;
    /** 4 KiB pages in a MiB. */
    public static final int PAGES_PER_MIB = 256;
    /** Statistic entries read from one buffer: every tag there is, with room for repeats. */
    static final int MAX_STAT_ENTRIES = 64;

    private static final RateLimitedLog LOG = new RateLimitedLog(org.slf4j.LoggerFactory.getLogger(VirtioBalloon.class));

    private final boolean deflateOnOom;
    private final boolean statsOffered;
    private final BalloonPages.Releaser releaser;
    private final BalloonPages pages = new BalloonPages();
    private final byte[] statBytes = new byte[MAX_STAT_ENTRIES * BalloonStatistics.ENTRY_BYTES];

    private VirtioContext context;
    private int targetPages;
    private int actualPages;
    private int statsIntervalS;
    private BalloonStatistics statistics = BalloonStatistics.NONE;
    /** The stats buffer the device keeps until the next request (§5.5.6.3), or null. */
    private DescriptorChain heldStats;
    /** When the held buffer is to be handed back (System.nanoTime). */
    private long statsDueNanos;
    private long releasedPages;
    private long refusedChains;
    private long pagesOutsideRam;
    private long releaseFailures;

    /**
     * @param targetMib the initial target (Firecracker's {@code amount_mib})
     * @param deflateOnOom offer DEFLATE_ON_OOM
     * @param statsIntervalS seconds between statistics requests; 0: no stats queue
     */
    public VirtioBalloon(int targetMib, boolean deflateOnOom, int statsIntervalS) {
        this(targetMib, deflateOnOom, statsIntervalS, HostPages::release);
    }

    /** With another way to release pages (tests). */
    VirtioBalloon(int targetMib, boolean deflateOnOom, int statsIntervalS, BalloonPages.Releaser releaser) {
        if (targetMib < 0 || targetMib > Integer.MAX_VALUE / PAGES_PER_MIB) {
            throw new IllegalArgumentException("balloon target " + targetMib + " MiB out of range");
        }
        if (statsIntervalS < 0) {
            throw new IllegalArgumentException("statistics interval " + statsIntervalS + " s is negative");
        }
        this.targetPages = targetMib * PAGES_PER_MIB;
        this.deflateOnOom = deflateOnOom;
        this.statsIntervalS = statsIntervalS;
        this.statsOffered = statsIntervalS > 0;
        this.releaser = releaser;
    }

    @Override
    public int deviceType() {
        return DEVICE_TYPE;
    }

    @Override
    public int pciClassCode() {
        return 0x05_80_00; // memory controller, "other"
    }

    /** The stats queue exists only with STATS_VQ (§5.5.2), offered only with an interval. */
    @Override
    public int queueCount() {
        return statsEnabled() ? 3 : 2;
    }

    @Override
    public int queueMaxSize(int index) {
        return QUEUE_SIZE;
    }

    @Override
    public long deviceFeatures() {
        return (statsEnabled() ? 1L << F_STATS_VQ : 0) | (deflateOnOom ? 1L << F_DEFLATE_ON_OOM : 0);
    }

    /** Whether the device was made with statistics (fixed for its life, as the feature is). */
    public boolean statsEnabled() {
        return statsOffered;
    }

    @Override
    public int configSize() {
        return CONFIG_SIZE;
    }

    @Override
    public synchronized void readConfig(int offset, byte[] dst) {
        byte[] all = ByteBuffer.allocate(CONFIG_SIZE).order(ByteOrder.LITTLE_ENDIAN).putInt(targetPages)
                .putInt(actualPages).array();
        System.arraycopy(all, offset, dst, 0, dst.length);
    }

    /** Only {@code actual} is the driver's to write (§5.5.4); writes to {@code num_pages} are ignored. */
    @Override
    public synchronized void writeConfig(int offset, byte[] src) {
        byte[] all = ByteBuffer.allocate(CONFIG_SIZE).order(ByteOrder.LITTLE_ENDIAN).putInt(targetPages)
                .putInt(actualPages).array();
        for (int i = 0; i < src.length; i++) {
            if (offset + i >= 4) {
                all[offset + i] = src[i];
            }
        }
        actualPages = ByteBuffer.wrap(all, 4, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
    }

    @Override
    public synchronized void activate(VirtioContext ctx) {
        this.context = ctx;
        statsDueNanos = System.nanoTime();
    }

    @Override
    public void queueNotified(int index) throws VirtqueueException {
        VirtioContext ctx;
        synchronized (this) {
            ctx = context;
        }
        if (ctx == null) {
            return;
        }
        switch (index) {
            case INFLATE -> ctx.drain(INFLATE, c -> count(pages.inflate(c, ctx.memory(), releaser), true));
            case DEFLATE -> ctx.drain(DEFLATE, c -> count(pages.deflate(c, ctx.memory()), false));
            case STATS -> serveStats(ctx);
            default -> { }
        }
    }

    private synchronized int count(BalloonPages.Outcome o, boolean inflate) {
        if (o.refused()) {
            refusedChains++;
            LOG.debug("virtio-balloon: refused a {} buffer that is not a whole number of at most {} page numbers",
                    inflate ? "inflate" : "deflate", BalloonPages.MAX_PFNS);
            return 0;
        }
        if (inflate) {
            releasedPages += o.pages();
        }
        pagesOutsideRam += o.outsideRam();
        releaseFailures += o.releaseFailures();
        if (o.outsideRam() > 0) {
            LOG.debug("virtio-balloon: {} page numbers outside guest RAM ignored", o.outsideRam());
        }
        return 0;
    }

    /**
     * The stats queue's turn: takes the buffers the driver added (parsing each, keeping the
     * newest; an older one goes back used), then, if the interval has passed, hands the kept one
     * back so the driver refreshes it, and arms the timer for the next time.
     */
    private void serveStats(VirtioContext ctx) throws VirtqueueException {
        if (!statsEnabled() || !ctx.hasFeature(F_STATS_VQ)) {
            return;
        }
        Virtqueue q = ctx.queue(STATS);
        boolean used = false;
        synchronized (this) {
            DescriptorChain c;
            // Bounded: a queue holds at most QUEUE_SIZE chains; a driver sends one at a time.
            for (int n = 0; n < QUEUE_SIZE && (c = q.pop()) != null; n++) {
                parseStats(c);
                if (heldStats != null) {
                    q.addUsed(heldStats.head(), 0);
                    used = true;
                }
                heldStats = c;
            }
            long now = System.nanoTime();
            if (heldStats != null && now - statsDueNanos >= 0) {
                q.addUsed(heldStats.head(), 0);
                heldStats = null;
                used = true;
                statsDueNanos = now + TimeUnit.SECONDS.toNanos(statsIntervalS);
            }
            if (heldStats != null) {
                ctx.kickAfter(STATS, Math.max(0, statsDueNanos - now));
            }
        }
        if (used && q.needsInterrupt()) {
            ctx.notifyQueue(STATS);
        }
    }

    /** Tag/value pairs (§5.5.6.3), at most {@link #MAX_STAT_ENTRIES}; a trailing partial entry is ignored. */
    private void parseStats(DescriptorChain c) {
        int len = Math.min(c.readableLength(), statBytes.length);
        int got = c.read(0, statBytes, 0, len);
        ByteBuffer b = ByteBuffer.wrap(statBytes, 0, got).order(ByteOrder.LITTLE_ENDIAN);
        BalloonStatistics s = statistics;
        while (b.remaining() >= BalloonStatistics.ENTRY_BYTES) {
            int tag = b.getShort() & 0xffff;
            s = s.with(tag, b.getLong());
        }
        statistics = s;
    }

    // ---- the host's side (API thread) ----

    /** A new target in MiB; the driver is told through a configuration change (§5.5.6). */
    public void setTargetMib(int mib) {
        if (mib < 0 || mib > Integer.MAX_VALUE / PAGES_PER_MIB) {
            throw new IllegalArgumentException("balloon target " + mib + " MiB out of range");
        }
        VirtioContext ctx;
        synchronized (this) {
            if (targetPages == mib * PAGES_PER_MIB) {
                return;
            }
            targetPages = mib * PAGES_PER_MIB;
            ctx = context;
        }
        if (ctx != null) {
            ctx.configChanged();
        }
    }

    /**
     * A new statistics interval (seconds, positive); the next request goes out at once. A device
     * made without statistics cannot start them (the feature was not offered).
     */
    public void setStatsIntervalS(int seconds) {
        VirtioContext ctx;
        synchronized (this) {
            if (!statsOffered || seconds <= 0 || seconds > 0xffff) {
                throw new IllegalStateException("statistics cannot be turned on or off after boot");
            }
            statsIntervalS = seconds;
            statsDueNanos = System.nanoTime();
            ctx = context;
        }
        if (ctx != null) {
            ctx.kick(STATS);
        }
    }

    public synchronized int targetPages() {
        return targetPages;
    }

    public synchronized int actualPages() {
        return actualPages;
    }

    public synchronized int statsIntervalS() {
        return statsIntervalS;
    }

    public boolean deflateOnOom() {
        return deflateOnOom;
    }

    public synchronized BalloonStatistics statistics() {
        return statistics;
    }

    /** Pages released so far, chains refused, page numbers outside RAM, ranges the host would not release. */
    public synchronized long[] counters() {
        return new long[] {releasedPages, refusedChains, pagesOutsideRam, releaseFailures};
    }

    // ---- snapshots ----

    /**
     * What the balloon keeps beyond its configuration: the target (a PATCH may have changed it),
     * the driver's {@code actual}, the interval, the last statistics and the stats buffer kept,
     * by head index ({@code -1}: none), which restore parses again from the stats queue.
     */
    public record State(int targetPages, int actualPages, int statsIntervalS, BalloonStatistics statistics,
            int heldStatsHead) {
        /** i32 target, i32 actual, u16 interval, i32 presence mask, 16 x i64 values, i32 head (-1: none). */
        public static final RecordCodec<State> CODEC = RecordCodec.of("virtio-balloon", State.class, (s, w) -> {
            w.i32(s.targetPages).i32(s.actualPages).u16(s.statsIntervalS).i32(s.statistics.present());
            for (long v : s.statistics.values()) {
                w.i64(v);
            }
            w.i32(s.heldStatsHead);
        }, r -> {
            int target = r.i32("target pages");
            int actual = r.i32("actual pages");
            int interval = r.u16("statistics interval");
            int present = r.i32("statistics present");
            long[] values = new long[BalloonStatistics.TAGS];
            for (int i = 0; i < values.length; i++) {
                values[i] = r.i64("statistic " + i);
            }
            int head = r.i32("held statistics buffer");
            try {
                return new State(target, actual, interval, new BalloonStatistics(present, values), head);
            } catch (IllegalArgumentException e) {
                throw r.fail(e.getMessage());
            }
        });

        public State {
            if (targetPages < 0 || statsIntervalS < 0 || statsIntervalS > 0xffff) {
                throw new IllegalArgumentException("balloon target " + targetPages + " pages / interval "
                        + statsIntervalS + " s out of range");
            }
            if (heldStatsHead < -1 || heldStatsHead >= QUEUE_SIZE) {
                throw new IllegalArgumentException("held statistics buffer " + heldStatsHead + " outside the queue");
            }
            java.util.Objects.requireNonNull(statistics, "statistics");
        }
    }

    @Override
    public synchronized State save() {
        return new State(targetPages, actualPages, statsIntervalS, statistics, heldStats == null ? -1 : heldStats.head());
    }

    @Override
    public void restoreState(Record state, boolean active) {
        State s = VirtioDevice.stateOf(state, State.class, "virtio-balloon");
        if ((s.statsIntervalS() > 0) != statsOffered) {
            throw new DeviceMismatchException("virtio-balloon", "statistics were " + (s.statsIntervalS() > 0 ? "on" : "off")
                    + " in the snapshot but are " + (statsOffered ? "on" : "off") + " in the configuration");
        }
        VirtioContext ctx;
        synchronized (this) {
            targetPages = s.targetPages();
            actualPages = s.actualPages();
            statsIntervalS = s.statsIntervalS();
            statistics = s.statistics();
            heldStats = null;
            ctx = active ? context : null;
            if (s.heldStatsHead() >= 0) {
                if (ctx == null || !ctx.hasFeature(F_STATS_VQ)) {
                    throw new DeviceMismatchException("virtio-balloon", "holds a statistics buffer but has no live stats queue");
                }
                Virtqueue q = ctx.queue(STATS);
                DescriptorChain c = q.chainAt(s.heldStatsHead());
                if (c == null) {
                    q.addUsed(s.heldStatsHead(), 0);
                } else {
                    heldStats = c;
                }
            }
            // The next request one interval from now, as if the timer had just fired.
            statsDueNanos = System.nanoTime() + TimeUnit.SECONDS.toNanos(statsIntervalS);
        }
        if (ctx != null && heldStats != null) {
            ctx.kick(STATS);
        }
    }

    @Override
    public synchronized void reset() {
        context = null;
        heldStats = null;
        actualPages = 0;
    }
}
