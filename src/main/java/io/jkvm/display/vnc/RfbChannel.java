package io.jkvm.display.vnc;

import java.io.EOFException;
import java.io.IOException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedSelectorException;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.util.concurrent.TimeUnit;

/**
 * One client connection with deadlines: the socket is non-blocking, and reads and writes wait
 * in selectors of their own (one for the reading thread, one for the writing thread), so a read
 * can give up at a handshake deadline and a write can give up on a client that stopped reading,
 * neither of which a blocking socket channel can do.
 *
 * <p>Reads go through a small buffer; nothing read is ever sized by the client beyond it.
 */
final class RfbChannel implements AutoCloseable {
    /** Largest single {@link #bytes} read; longer client data is {@link #skip}ped or refused. */
    static final int READ_BUFFER = 8192;

    /** No deadline. */
    static final long FOREVER = Long.MAX_VALUE;

    private final SocketChannel ch;
    private final Selector readSelector;
    private final Selector writeSelector;
    private final ByteBuffer in = ByteBuffer.allocate(READ_BUFFER).flip();
    private volatile boolean closed;

    RfbChannel(SocketChannel ch) throws IOException {
        this.ch = ch;
        ch.configureBlocking(false);
        Selector r = null;
        Selector w = null;
        try {
            r = Selector.open();
            w = Selector.open();
            ch.register(r, SelectionKey.OP_READ);
            ch.register(w, SelectionKey.OP_WRITE);
        } catch (IOException | RuntimeException e) {
            // Out of descriptors, say: give back what was opened (the caller closes the channel).
            for (Selector sel : new Selector[] {r, w}) {
                if (sel != null) {
                    try {
                        sel.close();
                    } catch (IOException ignored) {
                        // closing anyway
                    }
                }
            }
            throw e;
        }
        readSelector = r;
        writeSelector = w;
    }

    /** Makes sure {@code n} (at most {@link #READ_BUFFER}) bytes are buffered, waiting until {@code deadline}. */
    private void need(int n, long deadline) throws IOException {
        if (in.remaining() >= n) {
            return;
        }
        in.compact();
        try {
            while (in.position() < n) {
                int got = ch.read(in);
                if (got < 0) {
                    throw new EOFException("client closed the connection");
                }
                if (got == 0) {
                    await(readSelector, deadline);
                }
            }
        } finally {
            in.flip();
        }
    }

    private void await(Selector selector, long deadline) throws IOException {
        if (closed) {
            throw new IOException("connection closed");
        }
        long timeoutMs = 0;
        if (deadline != FOREVER) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                throw new SocketTimeoutException("client too slow");
            }
            timeoutMs = Math.max(1, TimeUnit.NANOSECONDS.toMillis(left));
        }
        try {
            selector.select(timeoutMs);
            selector.selectedKeys().clear();
        } catch (ClosedSelectorException e) {
            throw new IOException("connection closed", e);
        }
        if (closed) {
            throw new IOException("connection closed");
        }
    }

    int u8(long deadline) throws IOException {
        need(1, deadline);
        return in.get() & 0xff;
    }

    int u16(long deadline) throws IOException {
        need(2, deadline);
        return in.getShort() & 0xffff;
    }

    int s32(long deadline) throws IOException {
        need(4, deadline);
        return in.getInt();
    }

    /** Reads exactly {@code n} bytes, {@code n} at most {@link #READ_BUFFER}. */
    byte[] bytes(int n, long deadline) throws IOException {
        if (n < 0 || n > READ_BUFFER) {
            throw new IllegalArgumentException("read of " + n + " bytes");
        }
        need(n, deadline);
        byte[] b = new byte[n];
        in.get(b);
        return b;
    }

    /** A view of the next {@code n} (at most {@link #READ_BUFFER}) bytes, consumed. */
    ByteBuffer slice(int n, long deadline) throws IOException {
        return ByteBuffer.wrap(bytes(n, deadline));
    }

    /** Reads and discards {@code n} bytes, a buffer at a time. */
    void skip(long n, long deadline) throws IOException {
        while (n > 0) {
            int step = (int) Math.min(n, READ_BUFFER);
            need(step, deadline);
            in.position(in.position() + step);
            n -= step;
        }
    }

    /**
     * Writes all of {@code src}; gives up with {@link SocketTimeoutException} if the client
     * accepts nothing for {@code stallNanos} (it stopped reading).
     */
    void write(ByteBuffer src, long stallNanos) throws IOException {
        long lastProgress = System.nanoTime();
        while (src.hasRemaining()) {
            if (ch.write(src) > 0) {
                lastProgress = System.nanoTime();
            } else {
                await(writeSelector, lastProgress + stallNanos);
            }
        }
    }

    /** The peer's IP address on TCP, or null (Unix socket, or already closed). */
    java.net.InetAddress peerAddress() {
        try {
            return ch.getRemoteAddress() instanceof java.net.InetSocketAddress inet ? inet.getAddress() : null;
        } catch (IOException e) {
            return null;
        }
    }

    boolean isOpen() {
        return !closed;
    }

    /** Closes the socket and wakes any thread waiting on it; idempotent, callable from any thread. */
    @Override
    public void close() {
        closed = true;
        readSelector.wakeup();
        writeSelector.wakeup();
        try {
            ch.close();
        } catch (IOException e) {
            // closing anyway
        }
        try {
            readSelector.close();
        } catch (IOException | RuntimeException e) {
            // closing anyway
        }
        try {
            writeSelector.close();
        } catch (IOException | RuntimeException e) {
            // closing anyway
        }
    }
}
