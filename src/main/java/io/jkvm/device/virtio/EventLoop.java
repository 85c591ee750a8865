package io.jkvm.device.virtio;

import io.jkvm.kvm.Native;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A device's I/O thread: one platform thread in poll(2) over a set of file descriptors (queue
 * kick eventfds, a TAP fd, ...), running each ready descriptor's handler. Keeps device work off
 * vCPU threads. Watches can be added, re-armed and removed from any thread; the loop is woken
 * through an internal eventfd to pick changes up. Handler exceptions are logged, never fatal.
 */
public final class EventLoop implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EventLoop.class);
    private static final int POLLFD_SIZE = 8;

    /** Called on the loop thread with the poll revents. */
    @FunctionalInterface
    public interface Handler {
        void ready(short revents);
    }

    /** One watched descriptor. */
    public final class Watch implements AutoCloseable {
        private final int fd;
        private final Handler handler;
        private volatile short events;

        private Watch(int fd, short events, Handler handler) {
            this.fd = fd;
            this.events = events;
            this.handler = handler;
        }

        /** Changes the poll events (0 = ignore this fd for now). */
        public void setEvents(short e) {
            if (events != e) {
                events = e;
                if (Thread.currentThread() != thread) {
                    wake.signal();
                }
            }
        }

        public short events() {
            return events;
        }

        @Override
        public void close() {
            remove(this);
        }
    }

    private final Thread thread;
    private final EventFd wake = new EventFd();
    private final Object lock = new Object();
    private volatile Watch[] watches = new Watch[0];
    private volatile boolean stopping;
    private volatile long iterations;
    /** {@link #sync} tickets handed out, and the newest one whose iteration has run all its handlers. */
    private final AtomicLong syncRequested = new AtomicLong();
    private volatile long syncServed;

    public EventLoop(String name) {
        thread = Thread.ofPlatform().name(name).daemon(true).unstarted(this::run);
    }

    public void start() {
        thread.start();
    }

    public Watch watch(int fd, short events, Handler handler) {
        Watch w = new Watch(fd, events, handler);
        synchronized (lock) {
            Watch[] a = Arrays.copyOf(watches, watches.length + 1);
            a[a.length - 1] = w;
            watches = a;
        }
        wake.signal();
        return w;
    }

    private void remove(Watch w) {
        synchronized (lock) {
            watches = Arrays.stream(watches).filter(x -> x != w).toArray(Watch[]::new);
        }
        wake.signal();
    }

    public boolean onLoopThread() {
        return Thread.currentThread() == thread;
    }

    /** The loop thread's id (diagnostics: its CPU time and allocations can be read by id). */
    public long threadId() {
        return thread.threadId();
    }

    /** How many times poll(2) has returned so far: a loop that spins shows up here. */
    public long iterations() {
        return iterations;
    }

    /**
     * Waits until the loop has gone round once after this call: every descriptor that was ready
     * when this was called has had its handler run (tests and diagnostics use it to wait for the
     * I/O thread without sleeping). Returns false if that took longer than {@code timeout}: the
     * loop is stuck in a handler, or has stopped.
     */
    public boolean sync(Duration timeout) {
        if (onLoopThread()) {
            throw new IllegalStateException("sync from the loop's own thread would wait for ever");
        }
        long ticket = syncRequested.incrementAndGet();
        wake.signal();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (syncServed < ticket) {
            if (!thread.isAlive() || System.nanoTime() > deadline) {
                return false;
            }
            LockSupport.parkNanos(20_000);
        }
        return true;
    }

    private void run() {
        try (Arena arena = Arena.ofConfined()) {
            int capacity = 0;
            MemorySegment fds = MemorySegment.NULL;
            while (!stopping) {
                Watch[] ws = watches;
                Watch[] active = Arrays.stream(ws).filter(w -> w.events != 0).toArray(Watch[]::new);
                int n = active.length + 1;
                if (n > capacity) {
                    capacity = Math.max(n, 8);
                    fds = arena.allocate((long) capacity * POLLFD_SIZE, 8);
                }
                fds.set(ValueLayout.JAVA_INT, 0, wake.fd());
                fds.set(ValueLayout.JAVA_SHORT, 4, Native.POLLIN);
                fds.set(ValueLayout.JAVA_SHORT, 6, (short) 0);
                for (int i = 0; i < active.length; i++) {
                    long o = (long) (i + 1) * POLLFD_SIZE;
                    fds.set(ValueLayout.JAVA_INT, o, active[i].fd);
                    fds.set(ValueLayout.JAVA_SHORT, o + 4, active[i].events);
                    fds.set(ValueLayout.JAVA_SHORT, o + 6, (short) 0);
                }
                int r = Native.poll(fds, n, -1);
                iterations++; // only this thread writes it
                if (r < 0) {
                    if (r != -Native.EINTR) {
                        LOG.error("{}: poll failed (errno {}); I/O thread stops", thread.getName(), -r);
                        return;
                    }
                    continue;
                }
                if (fds.get(ValueLayout.JAVA_SHORT, 6) != 0) {
                    wake.drain();
                }
                // After the drain: a sync() whose wake-up this drain consumed took its ticket before, so it
                // is served by this iteration; one that signals later wakes the next poll.
                long tickets = syncRequested.get();
                for (int i = 0; i < active.length && !stopping; i++) {
                    short rev = fds.get(ValueLayout.JAVA_SHORT, (long) (i + 1) * POLLFD_SIZE + 6);
                    if ((rev & Native.POLLNVAL) != 0) {
                        LOG.warn("{}: fd {} is closed; no longer watched", thread.getName(), active[i].fd);
                        active[i].events = 0;
                        continue;
                    }
                    if (rev != 0 && active[i].events != 0) {
                        try {
                            active[i].handler.ready(rev);
                        } catch (Throwable t) {
                            LOG.error("{}: handler failed", thread.getName(), t);
                        }
                    }
                }
                syncServed = tickets; // only this thread writes it
            }
        }
    }

    /** Stops and joins the thread (at most 5 s), then closes the internal eventfd. */
    @Override
    public void close() {
        stopping = true;
        wake.signal();
        if (thread.isAlive() && Thread.currentThread() != thread) {
            try {
                thread.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (!thread.isAlive()) {
            wake.close();
        }
    }
}
