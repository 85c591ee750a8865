package io.jkvm.api;

import java.io.InputStream;

/**
 * A bounded byte buffer read as an InputStream: writers (console clients) block while it is
 * full, the reader (the UART feeder) blocks while it is empty. Unlike piped streams it does not
 * care which threads write or whether they have ended.
 */
final class ByteQueueInputStream extends InputStream {
    private final byte[] ring;
    private int head;
    private int size;

    ByteQueueInputStream(int capacity) {
        ring = new byte[capacity];
    }

    synchronized void put(byte[] b, int off, int len) throws InterruptedException {
        for (int i = 0; i < len; i++) {
            while (size == ring.length) {
                wait();
            }
            ring[(head + size) % ring.length] = b[off + i];
            size++;
            notifyAll();
        }
    }

    @Override
    public synchronized int read() {
        byte[] one = new byte[1];
        return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
    }

    @Override
    public synchronized int read(byte[] b, int off, int len) {
        if (len == 0) {
            return 0;
        }
        try {
            while (size == 0) {
                wait();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
        int n = Math.min(len, size);
        for (int i = 0; i < n; i++) {
            b[off + i] = ring[head];
            head = (head + 1) % ring.length;
        }
        size -= n;
        notifyAll();
        return n;
    }
}
