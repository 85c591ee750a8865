package io.jkvm.vmm;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;

/**
 * Live migration's auto-converge for one machine: each vCPU thread sleeps {@code percent}% of
 * wall time between KVM_RUNs (0 = full speed, at most 99), so a guest that dirties memory faster
 * than the link carries it slows down until pre-copy converges. A hook around the vCPU loop's
 * KVM_RUN ({@link Meter}), not part of it: the loop asks its meter before and after each run and
 * nothing else. Sleeping happens outside every lock; while throttled, a ticker kicks the vCPUs
 * every 10 ms so a guest that never exits to userspace is throttled too.
 */
final class VcpuThrottle {
    /** Longest single sleep: a large debt is paid over several runs, so a pause or stop is not held up. */
    private static final long MAX_SLEEP_NANOS = TimeUnit.MILLISECONDS.toNanos(100);
    /** Smallest sleep: a guest exiting every few microseconds is slowed by p%, not by a sleep per exit. */
    private static final long MIN_SLEEP_NANOS = TimeUnit.MILLISECONDS.toNanos(1);

    private final Runnable kickAll;
    private final Object lock = new Object();
    private volatile int percent;
    private volatile boolean stopped;
    /** The ticker thread while one runs; guarded by {@link #lock}. */
    private Thread ticker;

    /** {@code kickAll} takes every vCPU out of KVM_RUN (the machine's kick). */
    VcpuThrottle(Runnable kickAll) {
        this.kickAll = kickAll;
    }

    /** A new throttle, from any thread; 0 turns it off. */
    void set(int p) {
        if (p < 0 || p > 99) {
            throw new IllegalArgumentException("throttle must be 0..99 percent, got " + p);
        }
        synchronized (lock) {
            percent = p;
            if (p > 0 && ticker == null && !stopped) {
                ticker = Thread.ofPlatform().name("vcpu-throttle").daemon(true).start(this::tick);
            }
        }
    }

    int percent() {
        return percent;
    }

    /** The machine is stopping: no vCPU sleeps any more and the ticker ends. */
    void stop() {
        synchronized (lock) {
            stopped = true;
        }
    }

    private void tick() {
        try {
            while (true) {
                synchronized (lock) {
                    // Decided under the lock set() takes, so a new throttle never misses its ticker.
                    if (percent == 0 || stopped) {
                        ticker = null;
                        return;
                    }
                }
                Thread.sleep(10); // a timer, not synchronization: it only bounds the time between kicks
                kickAll.run();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            synchronized (lock) {
                ticker = null;
            }
        }
    }

    /** One vCPU thread's side of the throttle: confined to that thread, no synchronization. */
    Meter meter(VcpuActivity activity) {
        return new Meter(activity);
    }

    final class Meter {
        private final VcpuActivity activity;
        private boolean timing;
        private long runStart;
        /** Sleep owed for time run, in nanoseconds. */
        private long owed;

        private Meter(VcpuActivity activity) {
            this.activity = activity;
        }

        /** Before KVM_RUN. Timed only while throttled: two clock reads per exit are not free on the hot path. */
        void beforeRun() {
            timing = percent > 0;
            runStart = timing ? System.nanoTime() : 0;
        }

        /**
         * After KVM_RUN: to run (100 - p)% of the time a vCPU owes p / (100 - p) ns of sleep per
         * ns run, paid in sleeps of at least {@link #MIN_SLEEP_NANOS}.
         */
        void afterRun() {
            int p = percent;
            if (!timing || p == 0 || stopped) {
                owed = 0;
                return;
            }
            owed += (System.nanoTime() - runStart) * p / (100 - p);
            if (owed >= MIN_SLEEP_NANOS) {
                activity.enter(VcpuActivity.Phase.THROTTLED);
                LockSupport.parkNanos(Math.min(owed, MAX_SLEEP_NANOS));
                activity.enter(VcpuActivity.Phase.HANDLING_EXIT);
                owed = 0;
            }
        }
    }
}
