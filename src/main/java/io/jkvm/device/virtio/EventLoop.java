package io.jkvm.device.virtio;

import io.jkvm.kvm.Native;
import io.jkvm.resources.NanoClock;
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
 *
 * <p><b>Timers</b> ({@link #timer}): one-shot deadlines on the loop's {@link NanoClock}, run on
 * the loop thread. poll(2) sleeps until the earliest armed deadline (its timeout, rounded up to
 * whole milliseconds so the loop never wakes before the deadline on CLOCK_MONOTONIC), so a
 * device waiting for time (a rate-limited queue) costs one wake-up when the time comes and
 * nothing meanwhile. Due timers run after the ready descriptors of the same iteration, before
 * {@link #sync} counts the iteration as served: a test that moves a hand-driven clock past a
 * deadline and calls {@link #sync} finds the timer has run.
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

    /**
     * A one-shot timer on the loop thread. Arming replaces an earlier deadline; arming, cancelling
     * and closing work from any thread (a short lock on the timer, never held while it runs).
     */
    public final class Timer implements AutoCloseable {
        private final Runnable task;
        private boolean armed; // guarded by this
        private long deadline; // guarded by this

        private Timer(Runnable task) {
            this.task = task;
        }

        /** Runs the task once {@code nanos} have passed on the loop's clock (0: at the next iteration). */
        public void armAfter(long nanos) {
            armAt(clock.nanoTime() + Math.max(0, nanos));
        }

        /** Runs the task once the loop's clock reaches {@code deadlineNanos}. */
        public void armAt(long deadlineNanos) {
            synchronized (this) {
                armed = true;
                deadline = deadlineNanos;
            }
            if (Thread.currentThread() != thread) {
                wake.signal(); // the loop may be asleep with a later (or no) timeout
            }
        }

        public synchronized void cancel() {
            armed = false;
        }

        public synchronized boolean isArmed() {
            return armed;
        }

        /** Nanoseconds from {@code now} until due (negative: overdue), Long.MAX_VALUE when not armed. */
        private synchronized long remaining(long now) {
            return armed ? deadline - now : Long.MAX_VALUE;
        }

        /** Disarms and returns true if due at {@code now}. */
        private synchronized boolean takeIfDue(long now) {
            if (armed && deadline - now <= 0) {
                armed = false;
                return true;
            }
            return false;
        }

        @Override
        public void close() {
            cancel();
            removeTimer(this);
        }
    }

    private final Thread thread;
    private final NanoClock clock;
    private final EventFd wake = new EventFd();
    private final Object lock = new Object();
    private volatile Watch[] watches = new Watch[0];
    private volatile Timer[] timers = new Timer[0];
    private volatile long timerRuns;
    private volatile boolean stopping;
    private volatile long iterations;
    /** {@link #sync} tickets handed out, and the newest one whose iteration has run all its handlers. */
    private final AtomicLong syncRequested = new AtomicLong();
    private volatile long syncServed;

    public EventLoop(String name) {
        this(name, NanoClock.SYSTEM);
    }

    /** A loop whose timers run on {@code clock} (tests drive it by hand). */
    public EventLoop(String name, NanoClock clock) {
        this.clock = java.util.Objects.requireNonNull(clock, "clock");
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

    /** A new, disarmed timer whose {@code task} runs on the loop thread (exceptions are logged). */
    public Timer timer(Runnable task) {
        Timer t = new Timer(java.util.Objects.requireNonNull(task, "task"));
        synchronized (lock) {
            Timer[] a = Arrays.copyOf(timers, timers.length + 1);
            a[a.length - 1] = t;
            timers = a;
        }
        return t;
    }

    private void removeTimer(Timer t) {
        synchronized (lock) {
            timers = Arrays.stream(timers).filter(x -> x != t).toArray(Timer[]::new);
        }
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

    /** How many timer tasks have run so far. */
    public long timerRuns() {
        return timerRuns;
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
                // Taken before the poll: whatever a sync() caller did before asking (a kick, a
                // write) is visible to this poll, so this iteration serves those tickets. A ticket
                // taken after it is served by the next iteration (its wake-up is re-signalled below
                // if this iteration's drain swallowed it).
                long tickets = syncRequested.get();
                int r = Native.poll(fds, n, pollTimeoutMillis());
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
                runDueTimers();
                syncServed = tickets; // only this thread writes it
                if (syncRequested.get() != tickets) {
                    wake.signal(); // a later ticket whose wake-up the drain above may have consumed
                }
            }
        }
    }

    /** Milliseconds until the earliest armed timer, rounded up (-1: none, sleep until a descriptor is ready). */
    private int pollTimeoutMillis() {
        long now = clock.nanoTime();
        long earliest = Long.MAX_VALUE;
        for (Timer t : timers) {
            earliest = Math.min(earliest, t.remaining(now));
        }
        if (earliest == Long.MAX_VALUE) {
            return -1;
        }
        if (earliest <= 0) {
            return 0;
        }
        return (int) Math.min(Integer.MAX_VALUE, earliest / 1_000_000 + (earliest % 1_000_000 != 0 ? 1 : 0));
    }

    private void runDueTimers() {
        Timer[] ts = timers;
        if (ts.length == 0) {
            return;
        }
        long now = clock.nanoTime();
        for (int i = 0; i < ts.length && !stopping; i++) {
            if (ts[i].takeIfDue(now)) {
                timerRuns++; // only this thread writes it
                try {
                    ts[i].task.run();
                } catch (Throwable t) {
                    LOG.error("{}: timer task failed", thread.getName(), t);
                }
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
