package io.jkvm.resources;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

/** A {@link NanoClock} that moves only when a test says so (readable from any thread). */
public final class ManualClock implements NanoClock {
    private final AtomicLong now;

    public ManualClock() {
        this(1_000_000_000L);
    }

    public ManualClock(long start) {
        now = new AtomicLong(start);
    }

    @Override
    public long nanoTime() {
        return now.get();
    }

    public void advance(long nanos) {
        now.addAndGet(nanos);
    }

    public void advance(Duration d) {
        advance(d.toNanos());
    }
}
