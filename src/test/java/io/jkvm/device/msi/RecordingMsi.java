package io.jkvm.device.msi;

import java.util.ArrayList;
import java.util.List;

/** In-memory {@link MsiController}: records every message delivered, in order. */
public final class RecordingMsi implements MsiController {
    /** A delivered interrupt. */
    public record Fired(int vector, long address, int data) {}

    private final List<Fired> fired = new ArrayList<>();
    private final List<long[]> messages = new ArrayList<>();
    private int allocated;
    private int closed;

    @Override
    public synchronized MsiVector allocate() {
        int v = allocated++;
        messages.add(new long[] {0, 0});
        return new MsiVector() {
            @Override
            public void setMessage(long address, int data) {
                synchronized (RecordingMsi.this) {
                    messages.set(v, new long[] {address, data});
                }
            }

            @Override
            public void fire() {
                synchronized (RecordingMsi.this) {
                    long[] m = messages.get(v);
                    fired.add(new Fired(v, m[0], (int) m[1]));
                    RecordingMsi.this.notifyAll();
                }
            }

            @Override
            public void close() {
                synchronized (RecordingMsi.this) {
                    closed++;
                }
            }
        };
    }

    public synchronized List<Fired> fired() {
        return List.copyOf(fired);
    }

    public synchronized int closedCount() {
        return closed;
    }

    public synchronized int allocatedCount() {
        return allocated;
    }

    /** Waits until at least {@code n} interrupts were delivered; false on timeout. */
    public synchronized boolean awaitFired(int n, long timeoutMs) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (fired.size() < n) {
            long left = deadline - System.currentTimeMillis();
            if (left <= 0) {
                return false;
            }
            wait(left);
        }
        return true;
    }
}
