package io.jkvm.resources;

/**
 * A monotonic clock in nanoseconds with {@link System#nanoTime} semantics: only differences
 * between two readings mean anything. Rate limiters and the I/O thread's timers read time through
 * it so tests can drive time by hand instead of sleeping.
 */
@FunctionalInterface
public interface NanoClock {
    /** The JVM's monotonic clock (CLOCK_MONOTONIC on Linux, the clock poll(2) timeouts run on). */
    NanoClock SYSTEM = System::nanoTime;

    long nanoTime();
}
