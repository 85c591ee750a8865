package io.jkvm.resources;

import java.util.Objects;

/**
 * A {@link RateLimiter} as a device queue uses it: consumed on the device's I/O thread,
 * reconfigured from any thread (a {@code PATCH} on the API thread), with throttling counters
 * for metrics.
 *
 * <p><b>Threads.</b> {@link #acquire}, {@link #readyIn} and {@link #charge} run on one consumer
 * thread at a time (the device's I/O thread; a device rebuilt after a guest reboot takes the same
 * throttle over, so bucket levels and the one-time burst carry across reboots). {@link #update}
 * only publishes the new configuration (a volatile write) and runs the waker, which makes the
 * consumer look at its queue again; the consumer applies it before its next decision. No lock is
 * held anywhere, so an update never waits for I/O and I/O never waits for an update.
 */
public final class Throttle {
    /** Counters for metrics: how often the queue had to wait, and for how long in all. */
    public record Stats(long throttled, long throttledNanos) {}

    private final NanoClock clock;
    private final RateLimiter limiter;
    private volatile RateLimitConfig requested;
    private volatile Runnable waker;
    // Written by the consumer thread only; volatile so metrics read them from any thread.
    private volatile long throttled;
    private volatile long throttledNanos;
    private boolean waiting;
    private long waitingSince;

    public Throttle(RateLimitConfig config, NanoClock clock) {
        this.clock = Objects.requireNonNull(clock, "clock");
        this.requested = Objects.requireNonNull(config, "config");
        this.limiter = new RateLimiter(config, clock);
    }

    /** A throttle that never refuses (until {@link #update}d). */
    public static Throttle unlimited() {
        return new Throttle(RateLimitConfig.UNLIMITED, NanoClock.SYSTEM);
    }

    public NanoClock clock() {
        return clock;
    }

    /** The configuration in force (or about to be: the consumer applies it at its next decision). */
    public RateLimitConfig config() {
        return requested;
    }

    /** Replaces the configuration from any thread and wakes the consumer so it takes effect now, not at an old timer. */
    public void update(RateLimitConfig config) {
        requested = Objects.requireNonNull(config, "config");
        Runnable w = waker;
        if (w != null) {
            w.run();
        }
    }

    /** What {@link #update} runs after publishing (the device kicks its own queue); null for nothing. */
    public void setWaker(Runnable w) {
        waker = w;
    }

    /** Consumer: takes the tokens and returns 0, or returns the nanoseconds to wait (taking nothing). */
    public long acquire(long bytes, long ops) {
        apply();
        return note(limiter.consume(bytes, ops));
    }

    /** Consumer: nanoseconds until {@code bytes}/{@code ops} would be granted (0: now), taking nothing. */
    public long readyIn(long bytes, long ops) {
        apply();
        return note(limiter.nanosUntil(bytes, ops));
    }

    /** Consumer: takes tokens for work already done (may leave debt). */
    public void charge(long bytes, long ops) {
        apply();
        limiter.charge(bytes, ops);
    }

    public Stats stats() {
        return new Stats(throttled, throttledNanos);
    }

    private void apply() {
        RateLimitConfig c = requested;
        if (c != limiter.config()) {
            limiter.reconfigure(c);
        }
    }

    /** Counts a wait once when it starts, and its length when the queue may go on. */
    private long note(long wait) {
        if (wait > 0 && !waiting) {
            waiting = true;
            waitingSince = clock.nanoTime();
            throttled++;
        } else if (wait == 0 && waiting) {
            waiting = false;
            throttledNanos += clock.nanoTime() - waitingSince;
        }
        return wait;
    }
}
