package io.jkvm.device.display;

import io.jkvm.display.DamageListener;
import io.jkvm.display.DisplayMode;
import io.jkvm.display.Framebuffer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A {@link Framebuffer} over {@link Vram}: pixels are read straight from the memory the guest
 * draws into, in the layout the current {@link Scanout} describes, and damage comes from the
 * device's dirty page log ({@link ScanoutSource#collectDirty}).
 *
 * <p>The framebuffer outlives the devices that draw into it: a VM that reboots builds a new
 * display device for its new machine and {@link #attach}es it, so display clients keep their
 * subscription across guest reboots. While nothing is attached the mode is OFF.
 *
 * <p><b>Damage.</b> While at least one listener is subscribed, a polling thread (never a vCPU
 * thread) runs {@link #poll} every {@link #DEFAULT_INTERVAL}: a changed mode is reported as
 * {@link DamageListener#modeChanged}; a moved scanout of the same size (a page flip through
 * Y_OFFSET, a new stride) as the whole screen damaged; otherwise each run of rows touched by
 * written pages as one full-width rectangle. Nothing is reported when nothing changed. With no
 * subscriber there is no thread and no polling.
 */
public final class VramFramebuffer implements Framebuffer, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(VramFramebuffer.class);

    /** At most 30 polls a second: what a VNC client needs, at negligible cost. */
    public static final Duration DEFAULT_INTERVAL = Duration.ofMillis(33);

    private static final ValueLayout.OfInt LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt BE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN);

    private final Vram vram;
    private final Duration interval;
    private final boolean autoPoll;
    private final List<DamageListener> listeners = new CopyOnWriteArrayList<>();
    private final long[] dirty;
    private final Object pollLock = new Object();
    private volatile ScanoutSource source;
    /** What the last poll reported (guarded by pollLock). */
    private Scanout reported = Scanout.OFF;
    /** Guarded by this. */
    private ScheduledExecutorService poller;
    private boolean closed;

    /** A framebuffer over {@code vram} polling every {@link #DEFAULT_INTERVAL} while subscribed. */
    public VramFramebuffer(Vram vram) {
        this(vram, DEFAULT_INTERVAL, true);
    }

    /**
     * @param autoPoll false: no polling thread, the owner calls {@link #poll} (tests drive it by hand)
     */
    public VramFramebuffer(Vram vram, Duration interval, boolean autoPoll) {
        this.vram = Objects.requireNonNull(vram, "vram");
        if (interval.isNegative() || interval.isZero()) {
            throw new IllegalArgumentException("poll interval must be positive");
        }
        this.interval = interval;
        this.autoPoll = autoPoll;
        this.dirty = new long[(vram.pages() + 63) / 64];
    }

    public Vram vram() {
        return vram;
    }

    /** The device drawing into this framebuffer from now on (null: none, mode OFF). */
    public void attach(ScanoutSource s) {
        source = s;
    }

    /** Detaches {@code s} if it is the attached device (a machine that ends). */
    public void detach(ScanoutSource s) {
        if (source == s) {
            source = null;
        }
    }

    private Scanout scanout() {
        ScanoutSource s = source;
        if (s == null) {
            return Scanout.OFF;
        }
        Scanout sc = s.scanout();
        // The source validated it; checked again so a faulty source can never make us read outside VRAM.
        return sc.end() <= vram.size() ? sc : Scanout.OFF;
    }

    @Override
    public DisplayMode mode() {
        return scanout().mode();
    }

    @Override
    public void readPixels(int x, int y, int width, int height, int[] dst) {
        Scanout s = scanout();
        if (x < 0 || y < 0 || width < 0 || height < 0 || (long) x + width > s.width() || (long) y + height > s.height()) {
            throw new IllegalArgumentException("rectangle " + width + "x" + height + "+" + x + "+" + y
                    + " is outside the " + s.width() + "x" + s.height() + " mode");
        }
        if (dst.length < (long) width * height) {
            throw new IllegalArgumentException("destination holds " + dst.length + " pixels, the rectangle " + (long) width * height);
        }
        MemorySegment m = vram.memory();
        ValueLayout.OfInt order = s.bigEndian() ? BE : LE;
        try {
            for (int row = 0; row < height; row++) {
                long at = s.offset() + (y + row) * s.stride() + (long) x * Scanout.BYTES_PER_PIXEL;
                int base = row * width;
                MemorySegment.copy(m, order, at, dst, base, width);
                for (int i = base; i < base + width; i++) {
                    dst[i] &= 0x00ff_ffff;
                }
            }
        } catch (IllegalStateException e) {
            // The VM ended and its VRAM is gone: as a mode change to OFF would be seen.
            throw new IllegalArgumentException("the display is gone", e);
        }
    }

    @Override
    public Subscription subscribe(DamageListener listener) {
        Objects.requireNonNull(listener, "listener");
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("the display is closed");
            }
            listeners.add(listener);
            if (autoPoll && poller == null) {
                poller = Executors.newSingleThreadScheduledExecutor(r -> Thread.ofPlatform().name("display-damage")
                        .daemon(true).unstarted(r));
                poller.scheduleWithFixedDelay(this::pollQuietly, 0, interval.toNanos(), TimeUnit.NANOSECONDS);
            }
        }
        return new Subscription() {
            private boolean done;

            @Override
            public void close() {
                synchronized (VramFramebuffer.this) {
                    if (done) {
                        return;
                    }
                    done = true;
                    listeners.remove(listener);
                    if (listeners.isEmpty()) {
                        stopPoller();
                    }
                }
            }
        };
    }

    /** Listeners subscribed now (for tests and diagnostics). */
    public int subscribers() {
        return listeners.size();
    }

    /** True while the polling thread runs (only with subscribers). */
    public synchronized boolean polling() {
        return poller != null;
    }

    private void stopPoller() {
        if (poller != null) {
            poller.shutdownNow();
            poller = null;
        }
    }

    private void pollQuietly() {
        try {
            poll();
        } catch (RuntimeException e) {
            LOG.warn("display: damage poll failed: {}", e.toString());
        }
    }

    /**
     * One damage round: reads the scanout and the dirty pages and tells every listener what
     * changed since the previous round (nothing if nothing did). Does nothing without listeners
     * (and then does not consume the dirty log either).
     */
    public void poll() {
        synchronized (pollLock) {
            if (listeners.isEmpty()) {
                return;
            }
            Scanout now = scanout();
            ScanoutSource src = source;
            boolean known = src == null || src.collectDirty(dirty);
            Scanout before = reported;
            reported = now;
            if (!now.mode().equals(before.mode())) {
                DisplayMode mode = now.mode();
                forEach(l -> l.modeChanged(mode));
                return;
            }
            if (now.isOff()) {
                return;
            }
            if (!now.equals(before) || !known) {
                forEach(l -> l.damaged(0, 0, now.width(), now.height()));
                return;
            }
            reportRows(now);
        }
    }

    /** Full-width rectangles over each run of rows that a dirty page touches. */
    private void reportRows(Scanout s) {
        long first = s.offset();
        long end = s.end();
        int runStart = -1;
        int runEnd = -1; // exclusive
        for (int w = 0; w < dirty.length; w++) {
            long bits = dirty[w];
            while (bits != 0) {
                int page = w * 64 + Long.numberOfTrailingZeros(bits);
                bits &= bits - 1;
                long lo = Math.max(first, page * Vram.PAGE);
                long hi = Math.min(end, (page + 1L) * Vram.PAGE); // exclusive
                if (lo >= hi) {
                    continue;
                }
                int r0 = (int) ((lo - first) / s.stride());
                int r1 = (int) Math.min(s.height(), (hi - 1 - first) / s.stride() + 1);
                if (runStart >= 0 && r0 <= runEnd) {
                    runEnd = Math.max(runEnd, r1);
                } else {
                    if (runStart >= 0) {
                        emitRows(s, runStart, runEnd);
                    }
                    runStart = r0;
                    runEnd = r1;
                }
            }
        }
        if (runStart >= 0) {
            emitRows(s, runStart, runEnd);
        }
    }

    private void emitRows(Scanout s, int from, int to) {
        forEach(l -> l.damaged(0, from, s.width(), to - from));
    }

    private void forEach(java.util.function.Consumer<DamageListener> call) {
        for (DamageListener l : listeners) {
            try {
                call.accept(l);
            } catch (RuntimeException e) {
                LOG.warn("display: damage listener failed: {}", e.toString());
            }
        }
    }

    /** Stops polling and drops every listener (the VM ended). The VRAM belongs to the caller. */
    @Override
    public synchronized void close() {
        closed = true;
        listeners.clear();
        stopPoller();
    }
}
