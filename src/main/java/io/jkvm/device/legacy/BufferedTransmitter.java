package io.jkvm.device.legacy;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.OutputStream;
import java.time.Duration;
import java.util.Objects;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A UART's line to the console: a bounded byte buffer that a platform thread of its own writes to
 * the console stream, in chunks. Writing THR therefore never blocks the vCPU thread, however slow
 * the console (a terminal, a pipe whose reader is busy, the lab's virtio-serial port): when the
 * buffer is nearly full the UART stops reporting THRE, the guest's 8250 driver waits for the THRE
 * interrupt as it would on a real, slow line, and that interrupt comes once this thread has made
 * room. This is what QEMU's 16550 does with a non-blocking character device (serial_xmit retries
 * from a watch instead of blocking the vCPU).
 *
 * <p>Without it a vCPU thread blocked in write(2) on the console is outside KVM_RUN: it handles no
 * IPI, and the guest's other vCPUs wait for it (TLB shootdowns, smp_call_function with wait,
 * stop_machine) for as long as the console is stuck.
 */
public final class BufferedTransmitter implements SerialTransmitter, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(BufferedTransmitter.class);

    /** Enough for the kernel's boot log burst when the console is enabled, without pressure. */
    public static final int DEFAULT_CAPACITY = 64 * 1024;
    static final int CHUNK = 4096;

    private final OutputStream sink;
    /** System.nanoTime() of the last write that reached the sink (written by the writer thread only). */
    private volatile long lastWritten;
    private final byte[] ring;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final Thread thread;
    private volatile Runnable onReady = () -> { };

    // --- guarded by lock ---
    private int head;
    private int count;
    /** The thread holds bytes taken from the ring and not yet written. */
    private boolean writing;
    /** ready() went false since the last onReady call. */
    private boolean waitingForRoom;
    private boolean closed;
    private long dropped;

    // --- only the writer thread ---
    private boolean broken;

    /**
     * @param sink the console; written and flushed only by this transmitter's thread
     * @param capacity bytes buffered before the UART reports a busy transmitter (at least 2 FIFO loads)
     * @param name the writer thread's name
     */
    public BufferedTransmitter(OutputStream sink, int capacity, String name) {
        this.sink = Objects.requireNonNull(sink, "sink");
        if (capacity < 2 * Serial16550.FIFO_SIZE) {
            throw new IllegalArgumentException("transmitter capacity must be at least " + 2 * Serial16550.FIFO_SIZE + " bytes");
        }
        this.ring = new byte[capacity];
        this.thread = Thread.ofPlatform().name(name).daemon(true).start(this::run);
    }

    @Override
    public void onReady(Runnable callback) {
        onReady = Objects.requireNonNull(callback, "callback");
    }

    @Override
    public boolean ready() {
        lock.lock();
        try {
            return hasRoom();
        } finally {
            lock.unlock();
        }
    }

    /**
     * System.nanoTime() when output last reached the console; 0 before the first. Silence here is
     * what a person watching sees: a guest that says nothing, or a console that takes nothing.
     */
    public long lastWrittenNanos() {
        return lastWritten;
    }

    @Override
    public boolean send(int b) {
        lock.lock();
        try {
            if (count == ring.length) {
                dropped++;
                waitingForRoom = true;
                return false;
            }
            ring[(head + count) % ring.length] = (byte) b;
            count++;
            if (!hasRoom()) {
                waitingForRoom = true;
            }
            changed.signalAll();
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** One line for a stuck-VM report: bytes waiting, whether the writer is inside a write, drops. */
    public String describe() {
        lock.lock();
        try {
            return "console transmitter: " + count + " bytes waiting, writer " + (writing ? "inside a write" : "idle")
                    + ", " + dropped + " bytes dropped, room " + (hasRoom() ? "yes" : "no");
        } finally {
            lock.unlock();
        }
    }

    /** Bytes the guest wrote while the buffer was full (lost, as a real UART's TX FIFO overrun). */
    public long dropped() {
        lock.lock();
        try {
            return dropped;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Waits until everything sent so far has been written to the console, at most {@code timeout}
     * (a console that is stuck must not keep the VMM from ending). Returns whether it all went out.
     */
    public boolean drain(Duration timeout) throws InterruptedException {
        long nanos = timeout.toNanos();
        lock.lock();
        try {
            while ((count > 0 || writing) && thread.isAlive()) {
                if (nanos <= 0) {
                    return false;
                }
                nanos = changed.awaitNanos(nanos);
            }
            return count == 0 && !writing;
        } finally {
            lock.unlock();
        }
    }

    /** Stops the writer thread once the buffer is empty; bytes sent after this are dropped. */
    @Override
    public void close() {
        lock.lock();
        try {
            closed = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    private boolean hasRoom() {
        return ring.length - count >= Serial16550.FIFO_SIZE;
    }

    private void run() {
        byte[] chunk = new byte[CHUNK];
        try {
            while (true) {
                int n;
                lock.lock();
                try {
                    while (count == 0 && !closed) {
                        changed.await();
                    }
                    if (count == 0) {
                        return;
                    }
                    n = Math.min(count, chunk.length);
                    int first = Math.min(n, ring.length - head);
                    System.arraycopy(ring, head, chunk, 0, first);
                    System.arraycopy(ring, 0, chunk, first, n - first);
                    head = (head + n) % ring.length;
                    count -= n;
                    writing = true;
                } finally {
                    lock.unlock();
                }
                write(chunk, n);
                boolean notify;
                lock.lock();
                try {
                    notify = waitingForRoom && hasRoom();
                    if (notify) {
                        waitingForRoom = false;
                    }
                } finally {
                    lock.unlock();
                }
                if (notify) {
                    onReady.run(); // no lock held: the UART takes its own
                }
                lock.lock();
                try {
                    // Only now: a drain() that returns has its bytes written and the UART told of the room.
                    writing = false;
                    changed.signalAll();
                } finally {
                    lock.unlock();
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void write(byte[] chunk, int n) {
        if (broken) {
            return;
        }
        try {
            sink.write(chunk, 0, n);
            sink.flush();
            lastWritten = System.nanoTime();
        } catch (IOException e) {
            broken = true;
            LOG.warn("serial: console output failed, discarding further output: {}", e.toString());
        }
    }

    /** For tests: whether the writer thread still runs. */
    boolean writerAlive() {
        return thread.isAlive();
    }
}
