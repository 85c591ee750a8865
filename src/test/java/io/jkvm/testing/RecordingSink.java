package io.jkvm.testing;

import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/** An output stream that records everything and lets a test wait until some text has appeared. */
public final class RecordingSink extends OutputStream {
    private final StringBuilder text = new StringBuilder();

    @Override
    public synchronized void write(int b) {
        text.append((char) (b & 0xff));
        notifyAll();
    }

    @Override
    public synchronized void write(byte[] b, int off, int len) {
        text.append(new String(b, off, len, StandardCharsets.ISO_8859_1));
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

    /** Waits until the output contains {@code needle}; returns false on timeout. */
    public boolean awaitContains(String needle, Duration timeout) throws InterruptedException {
        return awaitCount(needle, 1, timeout);
    }

    /** Waits until {@code needle} has appeared {@code count} times; returns false on timeout. */
    public synchronized boolean awaitCount(String needle, int count, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (occurrences(needle) < count) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return false;
            }
            wait(Math.max(1, left / 1_000_000));
        }
        return true;
    }
}
