package io.jkvm.storage;

import java.io.IOException;

/**
 * Taking image locks back after a live migration failed. The source released them so the
 * destination could open the images; a destination that fails late (after it opened them) lets
 * go as it tears its half-built VM down, which may end after the source has heard of the
 * failure. fcntl has no wait-with-deadline for a lock (F_OFD_SETLKW waits without bound), so the
 * lock is asked for again, with growing pauses, until it is held or the wait is over: the source's
 * vCPUs stay paused meanwhile, which beats stopping its VM because the lock came a moment late.
 */
public final class ImageLocks {
    /** The first pause between attempts; doubled after each until {@link #LONGEST_PAUSE_MS}. */
    static final long FIRST_PAUSE_MS = 10;
    static final long LONGEST_PAUSE_MS = 250;

    private ImageLocks() {}

    /** One attempt to take every lock; {@link ImageInUseException} when one is still held elsewhere. */
    @FunctionalInterface
    public interface Attempt {
        void run() throws IOException;
    }

    /**
     * Runs {@code attempt} until it succeeds, or throws what it threw: at once for any failure
     * but {@link ImageInUseException}, and that one when {@code waitMillis} have passed. Each
     * attempt must be safe to repeat (re-taking a lock this open already holds is).
     */
    public static void retake(Attempt attempt, long waitMillis) throws IOException, InterruptedException {
        if (waitMillis < 0) {
            throw new IllegalArgumentException("waitMillis must be >= 0, got " + waitMillis);
        }
        long deadline = System.nanoTime() + waitMillis * 1_000_000;
        long pause = FIRST_PAUSE_MS;
        while (true) {
            try {
                attempt.run();
                return;
            } catch (ImageInUseException e) {
                long left = (deadline - System.nanoTime()) / 1_000_000;
                if (left <= 0) {
                    throw e;
                }
                // No event tells us when another process lets go of a lock: a bounded poll.
                Thread.sleep(Math.min(pause, left));
                pause = Math.min(pause * 2, LONGEST_PAUSE_MS);
            }
        }
    }
}
