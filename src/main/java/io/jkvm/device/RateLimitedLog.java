package io.jkvm.device;

import java.util.function.LongSupplier;
import org.slf4j.Logger;

/**
 * Debug logging that a guest cannot turn into a denial of service.
 *
 * <p>A guest can trigger "unmapped access" or "unsupported register" messages in a tight loop, so
 * at most {@code permitsPerWindow} messages are emitted per window; the rest are counted and
 * reported as one "suppressed K" summary with the next message allowed through. When debug
 * logging is off, {@link #debug} costs one volatile-free flag check and nothing else.
 *
 * <p>Thread-safe; the bookkeeping is synchronized, which is acceptable because it only runs on
 * slow (already-anomalous) paths and only when debug logging is enabled.
 */
public final class RateLimitedLog {
    /** Default budget: 10 messages per second. */
    public static final int DEFAULT_PERMITS = 10;

    public static final long DEFAULT_WINDOW_NANOS = 1_000_000_000L;

    private final Logger logger;
    private final int permitsPerWindow;
    private final long windowNanos;
    private final LongSupplier nanoClock;

    private long windowStart;
    private boolean started;
    private int usedInWindow;
    private long suppressed;

    public RateLimitedLog(Logger logger) {
        this(logger, DEFAULT_PERMITS, DEFAULT_WINDOW_NANOS, System::nanoTime);
    }

    public RateLimitedLog(Logger logger, int permitsPerWindow, long windowNanos, LongSupplier nanoClock) {
        if (permitsPerWindow < 1 || windowNanos < 1) {
            throw new IllegalArgumentException("permitsPerWindow and windowNanos must be positive");
        }
        this.logger = logger;
        this.permitsPerWindow = permitsPerWindow;
        this.windowNanos = windowNanos;
        this.nanoClock = nanoClock;
    }

    /** Logs at debug level if the budget allows; otherwise counts the message as suppressed. */
    public void debug(String format, Object... args) {
        if (!logger.isDebugEnabled()) {
            return;
        }
        long pendingSummary = acquire();
        if (pendingSummary < 0) {
            return;
        }
        if (pendingSummary > 0) {
            logger.debug("suppressed {} similar messages", pendingSummary);
        }
        logger.debug(format, args);
    }

    /**
     * Takes one permit. Returns -1 if the message must be suppressed, otherwise the number of
     * messages suppressed since the last one that was let through (to be summarised first).
     */
    public synchronized long acquire() {
        long now = nanoClock.getAsLong();
        if (!started || now - windowStart >= windowNanos) {
            started = true;
            windowStart = now;
            usedInWindow = 0;
        }
        if (usedInWindow >= permitsPerWindow) {
            suppressed++;
            return -1;
        }
        usedInWindow++;
        long s = suppressed;
        suppressed = 0;
        return s;
    }
}
