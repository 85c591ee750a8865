package io.jkvm.device.virtio;

import io.jkvm.kvm.Native;
import io.jkvm.snapshot.RecordCodec;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * virtio-console with a single port (virtio 1.2 §5.3): queue 0 receiveq (host → guest), queue 1
 * transmitq (guest → host). No MULTIPORT, so no control queues. With a size given, F_SIZE is
 * offered and cols/rows are in the config.
 *
 * <p>Input comes from an {@link InputStream} read by a dedicated reader thread (streams cannot
 * be polled) into a bounded buffer; the reader blocks when the buffer is full, so a guest that
 * posts no receive buffers only stalls its own input. Bytes are delivered on the device's I/O
 * thread when the guest has receive buffers. Output is written to an {@link OutputStream} from
 * the I/O thread and flushed per batch, streamed through one {@link #TX_CHUNK}-byte buffer
 * whatever length the guest's chain claims (up to {@link Virtqueue#MAX_CHAIN_BYTES}); a transmit
 * chain with writable buffers only is returned untouched.
 */
public final class VirtioConsole implements VirtioDevice {
    private static final Logger LOG = LoggerFactory.getLogger(VirtioConsole.class);

    public static final int DEVICE_TYPE = 3;
    public static final int QUEUE_SIZE = 64;
    public static final int F_SIZE = 0;
    public static final int RX = 0;
    public static final int TX = 1;
    static final int RX_BUFFER = 4096;
    /** Transmit copies guest bytes to the output this much at a time. */
    static final int TX_CHUNK = 64 * 1024;
    static final int CONFIG_SIZE = 12;

    private final OutputStream out;
    private final int cols;
    private final int rows;
    private final EventFd rxReady = new EventFd();
    private final byte[] rxBuf = new byte[RX_BUFFER];
    /** Used by the I/O thread only. */
    private final byte[] txBuf = new byte[TX_CHUNK];
    private final Thread reader;
    private int rxStart;
    private int rxCount;
    private boolean eof;
    private volatile boolean closed;
    private VirtioContext context;

    /** {@code cols}/{@code rows} of 0 mean "size unknown" (no F_SIZE). */
    public VirtioConsole(InputStream in, OutputStream out, int cols, int rows) {
        if (cols < 0 || cols > 0xffff || rows < 0 || rows > 0xffff) {
            throw new IllegalArgumentException("console size out of range");
        }
        this.out = out;
        this.cols = cols;
        this.rows = rows;
        this.reader = in == null ? null
                : Thread.ofPlatform().name("virtio-console-input").daemon(true).start(() -> readInput(in));
    }

    private void readInput(InputStream in) {
        byte[] chunk = new byte[512];
        try {
            while (!closed) {
                int space;
                synchronized (this) {
                    while (rxCount == RX_BUFFER && !closed) {
                        wait();
                    }
                    space = RX_BUFFER - rxCount;
                }
                int n = in.read(chunk, 0, Math.min(space, chunk.length));
                if (n < 0) {
                    break;
                }
                synchronized (this) {
                    for (int i = 0; i < n; i++) {
                        rxBuf[(rxStart + rxCount + i) % RX_BUFFER] = chunk[i];
                    }
                    rxCount += n;
                }
                rxReady.signal();
            }
        } catch (IOException e) {
            LOG.debug("console input ended: {}", e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (this) {
            eof = true;
        }
    }

    @Override
    public int deviceType() {
        return DEVICE_TYPE;
    }

    @Override
    public int pciClassCode() {
        return 0x07_80_00; // simple communication controller, other
    }

    @Override
    public int queueCount() {
        return 2;
    }

    @Override
    public int queueMaxSize(int index) {
        return QUEUE_SIZE;
    }

    @Override
    public long deviceFeatures() {
        return cols > 0 && rows > 0 ? VirtioFeatures.bit(F_SIZE) : 0;
    }

    @Override
    public int configSize() {
        return CONFIG_SIZE;
    }

    @Override
    public void readConfig(int offset, byte[] dst) {
        ByteBuffer b = ByteBuffer.allocate(CONFIG_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.putShort(0, (short) cols);
        b.putShort(2, (short) rows);
        b.putInt(4, 1); // max_nr_ports (only meaningful with MULTIPORT)
        b.get(offset, dst);
    }

    @Override
    public void activate(VirtioContext ctx) {
        context = ctx;
        ctx.watch(rxReady.fd(), Native.POLLIN, rev -> {
            rxReady.drain();
            receive();
        });
    }

    @Override
    public void queueNotified(int index) throws VirtqueueException {
        if (index == RX) {
            receive();
        } else if (index == TX) {
            context.drain(TX, this::transmit);
            try {
                out.flush();
            } catch (IOException e) {
                LOG.debug("console output flush failed: {}", e.getMessage());
            }
        }
    }

    /** Moves buffered input into receive buffers; pops only when there is something to send. */
    private void receive() throws VirtqueueException {
        Virtqueue q = context.queue(RX);
        while (pendingInput() > 0) {
            DescriptorChain c = q.pop();
            if (c == null) {
                if (q.rearm()) {
                    continue;
                }
                break; // wait for the driver to post buffers (it kicks RX)
            }
            int n;
            synchronized (this) {
                n = Math.min(rxCount, c.writableLength());
                int first = Math.min(n, RX_BUFFER - rxStart);
                c.write(0, rxBuf, rxStart, first);
                if (n > first) {
                    c.write(first, rxBuf, 0, n - first);
                }
                rxStart = (rxStart + n) % RX_BUFFER;
                rxCount -= n;
                notifyAll();
            }
            q.addUsed(c.head(), n);
        }
        if (q.needsInterrupt()) {
            context.notifyQueue(RX);
        }
    }

    private synchronized int pendingInput() {
        return rxCount;
    }

    private int transmit(DescriptorChain c) {
        try {
            for (MemorySegment s : c.readableSlices(0, c.readableLength())) {
                for (long off = 0; off < s.byteSize(); ) {
                    int n = (int) Math.min(TX_CHUNK, s.byteSize() - off);
                    MemorySegment.copy(s, ValueLayout.JAVA_BYTE, off, txBuf, 0, n);
                    out.write(txBuf, 0, n);
                    off += n;
                }
            }
        } catch (IOException e) {
            LOG.debug("console output failed: {}", e.getMessage());
        }
        return 0;
    }

    /** Input read from the host but not yet delivered to the guest. */
    public record State(byte[] pendingInput) {
        /** u16 length (at most the 4 KiB input buffer), the bytes. */
        public static final RecordCodec<State> CODEC = RecordCodec.of("virtio-console", State.class,
                (s, w) -> {
                    w.u16(s.pendingInput.length);
                    for (byte b : s.pendingInput) {
                        w.u8(b);
                    }
                },
                r -> new State(r.bytes(r.u16("pending input length", 0, RX_BUFFER), "pending input")));

        public State {
            if (pendingInput.length > RX_BUFFER) {
                throw new IllegalArgumentException(pendingInput.length + " pending input bytes exceed " + RX_BUFFER);
            }
            pendingInput = pendingInput.clone();
        }

        @Override
        public byte[] pendingInput() {
            return pendingInput.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof State s && java.util.Arrays.equals(pendingInput, s.pendingInput);
        }

        @Override
        public int hashCode() {
            return java.util.Arrays.hashCode(pendingInput);
        }
    }

    @Override
    public synchronized State save() {
        byte[] b = new byte[rxCount];
        for (int i = 0; i < rxCount; i++) {
            b[i] = rxBuf[(rxStart + i) % RX_BUFFER];
        }
        return new State(b);
    }

    @Override
    public synchronized void restoreState(Record state, boolean active) {
        byte[] saved = VirtioDevice.stateOf(state, State.class, "virtio-console").pendingInput();
        int n = saved.length;
        // Saved input goes before anything typed since this process started.
        int keep = Math.min(rxCount, RX_BUFFER - n);
        byte[] merged = new byte[n + keep];
        System.arraycopy(saved, 0, merged, 0, n);
        for (int i = 0; i < keep; i++) {
            merged[n + i] = rxBuf[(rxStart + i) % RX_BUFFER];
        }
        System.arraycopy(merged, 0, rxBuf, 0, merged.length);
        rxStart = 0;
        rxCount = merged.length;
        if (rxCount > 0) {
            rxReady.signal();
        }
    }

    @Override
    public void reset() {
        context = null;
    }

    /** Stops accepting input; the reader thread ends at its next read (it cannot be interrupted). */
    @Override
    public void close() {
        closed = true;
        synchronized (this) {
            notifyAll();
        }
        rxReady.close();
    }
}
