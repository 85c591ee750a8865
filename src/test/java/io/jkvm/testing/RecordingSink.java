package io.jkvm.testing;

import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/**
 * An output stream that records everything and lets a test wait until some text has appeared.
 * Waits are bounded by progress, not by a total: they give up when nothing new has been written
 * for the given time, or at once when the stream is closed (the producer ended). A slow producer
 * that keeps writing is waited for.
 */
public final class RecordingSink extends OutputStream {
    private final StringBuilder text = new StringBuilder();
    private long lastWrite = System.nanoTime();
    private boolean closed;

    @Override
    public synchronized void write(int b) {
        text.append((char) (b & 0xff));
        lastWrite = System.nanoTime();
        notifyAll();
    }

    @Override
    public synchronized void write(byte[] b, int off, int len) {
        text.append(new String(b, off, len, StandardCharsets.ISO_8859_1));
        lastWrite = System.nanoTime();
        notifyAll();
    }

    /** The producer has ended: waits for text that has not appeared yet fail at once. */
    @Override
    public synchronized void close() {
        closed = true;
        notifyAll();
    }

    private int occurrences(String needle) {
        int n = 0;
        for (int i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + 1)) {
            n++;
        }
        return n;
    }

    public synchronized String text() {
        return text.toString();
    }

    /** Waits until the output contains {@code needle}; false if nothing was written for {@code idle}, or the end came. */
    public boolean awaitContains(String needle, Duration idle) throws InterruptedException {
        return awaitCount(needle, 1, idle);
    }

    /**
     * Waits until {@code needle} has appeared {@code count} times; false if nothing new was
     * written for {@code idle} (stuck), or the stream was closed first.
     */
    public synchronized boolean awaitCount(String needle, int count, Duration idle) throws InterruptedException {
        while (occurrences(needle) < count) {
            if (closed) {
                return false;
            }
            long left = lastWrite + idle.toNanos() - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            wait(Math.max(1, left / 1_000_000));
        }
        return true;
    }
}
