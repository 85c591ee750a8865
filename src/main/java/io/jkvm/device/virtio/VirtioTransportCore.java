package io.jkvm.device.virtio;

import io.jkvm.kvm.Native;
import io.jkvm.memory.GuestMemory;
import io.jkvm.resources.NanoClock;
import io.jkvm.snapshot.DeviceMismatchException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantLock;

/**
 * What every virtio transport does the same way, whatever the guest uses to reach the registers
 * (PCI BAR, virtio-mmio window): the device status machine (virtio 1.2 §2.1, §3.1.1), feature
 * negotiation (§2.2), per-queue configuration up to enable (§2.7, §4.1.4.3, §4.2.2), the
 * device's I/O thread with one kick eventfd and one timer per queue, the {@link VirtioContext}
 * handed to the device, suspending I/O for snapshots, and saving and restoring all of that
 * ({@link VirtioCoreState}). A transport decodes its own registers into calls here and delivers
 * interrupts through {@link VirtioInterrupts}.
 *
 * <p><b>Kicks</b>: each queue has an eventfd watched by the {@link EventLoop}; the transport
 * binds it to its notify address with ioeventfd where it can ({@link #kickFd}), else signals it
 * from its write handler ({@link #notifyQueue}). Device code never runs on a vCPU thread, except
 * {@link VirtioDevice#activate}/{@link VirtioDevice#reset}, which are short. Each queue also has
 * a one-shot timer ({@link VirtioContext#kickAfter}) that serves it like a kick when it falls
 * due: a rate-limited device waits for tokens with it, never on the I/O thread.
 *
 * <p><b>Locks</b>: {@code deviceLock} serialises request processing (I/O thread) with
 * activation, queue enable and reset (vCPU). A reset therefore waits for an in-flight request to
 * finish, which is what reset means (§2.4: no more DMA afterwards). The I/O thread holds it for
 * one bounded turn at a time ({@link VirtioContext#MAX_CHAINS_PER_TURN}) and the lock is fair,
 * so a reset or {@link #suspendIo} waits for at most the turn in progress. Register reads and
 * ordinary register writes take only {@code cfgLock}, so a vCPU never waits behind device I/O
 * for them. Order: deviceLock → cfgLock; interrupts are raised outside cfgLock.
 *
 * <p><b>Errors</b>: a corrupt queue, a device failure (any exception or Error out of the device,
 * including OutOfMemoryError) or a queue enable with bad ring addresses set DEVICE_NEEDS_RESET
 * (logged once) and stop processing until the driver resets (§2.1.2).
 *
 * <p><b>Watches</b>: the device's file descriptors are polled only while the device is live.
 * Whatever stops it (FAILED, DEVICE_NEEDS_RESET, reset) disarms every watch at once, and a watch
 * that fires anyway is disarmed rather than skipped, so a readable descriptor nobody will read
 * can never make the I/O thread spin.
 */
public final class VirtioTransportCore implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(VirtioTransportCore.class);

    /** The three ring areas of a split virtqueue (§2.7). */
    public enum Area { DESC, DRIVER, DEVICE }

    /** Per-queue driver-programmed values, shadowed until the queue is enabled. */
    private static final class QueueConfig {
        int size;
        boolean enabled;
        long desc;
        long driver;
        long device;

        long address(Area a) {
            return switch (a) {
                case DESC -> desc;
                case DRIVER -> driver;
                case DEVICE -> device;
            };
        }

        void setAddress(Area a, long v) {
            switch (a) {
                case DESC -> desc = v;
                case DRIVER -> driver = v;
                case DEVICE -> device = v;
            }
        }
    }

    private final VirtioDevice device;
    private final String name;
    private final GuestMemory memory;
    private final VirtioInterrupts interrupts;
    private final long offeredFeatures;
    private final int numQueues;
    private final Virtqueue[] queues;
    private final QueueConfig[] queueCfg;
    private final EventFd[] kicks;
    private final EventLoop.Timer[] timers;
    private final EventLoop loop;
    private final Context context = new Context();

    /** Fair: a vCPU waiting to reset gets it before the I/O thread's next turn. */
    private final ReentrantLock deviceLock = new ReentrantLock(true);
    private final Object cfgLock = new Object();

    // cfgLock
    private int deviceFeatureSelect;
    private int driverFeatureSelect;
    private long driverFeatures;
    private int status;
    private int configGeneration;
    private int queueSelect;
    // deviceLock
    private final List<EventLoop.Watch> contextWatches = new ArrayList<>();
    private volatile boolean live;
    /** I/O stopped for a snapshot (see {@link #suspendIo}); guarded by deviceLock. */
    private boolean suspended;
    private short[] suspendedEvents = new short[0];
    private boolean loopClosed;

    /**
     * Builds the queues, kick eventfds and the I/O thread (not yet started: {@link #start}).
     *
     * @param maxQueues most queues the transport's register layout can address
     */
    public VirtioTransportCore(VirtioDevice device, GuestMemory memory, VirtioInterrupts interrupts, NanoClock clock,
            String name, int maxQueues) {
        this.device = Objects.requireNonNull(device, "device");
        this.memory = Objects.requireNonNull(memory, "memory");
        this.interrupts = Objects.requireNonNull(interrupts, "interrupts");
        this.name = name;
        this.numQueues = device.queueCount();
        if (numQueues < 1 || numQueues > maxQueues) {
            throw new IllegalArgumentException("queue count out of range: " + numQueues);
        }
        this.offeredFeatures = device.deviceFeatures() | VirtioFeatures.TRANSPORT;
        queues = new Virtqueue[numQueues];
        queueCfg = new QueueConfig[numQueues];
        kicks = new EventFd[numQueues];
        timers = new EventLoop.Timer[numQueues];
        loop = new EventLoop(name + "-io", clock);
        try {
            for (int q = 0; q < numQueues; q++) {
                queues[q] = new Virtqueue(memory, q, device.queueMaxSize(q));
                queueCfg[q] = new QueueConfig();
                queueCfg[q].size = queues[q].maxSize();
                kicks[q] = new EventFd();
                int qi = q;
                loop.watch(kicks[q].fd(), Native.POLLIN, rev -> onKick(qi));
                timers[q] = loop.timer(() -> serve(qi));
            }
        } catch (RuntimeException e) {
            closeKicks();
            throw e;
        }
    }

    /** Starts the I/O thread, once the transport around the core is complete. */
    public void start() {
        loop.start();
    }

    public VirtioDevice device() {
        return device;
    }

    public String name() {
        return name;
    }

    public int numQueues() {
        return numQueues;
    }

    public long offeredFeatures() {
        return offeredFeatures;
    }

    /** Queue {@code q}'s kick eventfd, for binding a notify address to it with ioeventfd. */
    public EventFd kickFd(int q) {
        return kicks[q];
    }

    /** A driver notification for queue {@code q} that reached the transport's write handler; out-of-range ignored. */
    public void notifyQueue(int q) {
        if (q >= 0 && q < numQueues) {
            kicks[q].signal();
        }
    }

    // ---------------------------------------------------------------- registers (vCPU side)

    public int status() {
        synchronized (cfgLock) {
            return status;
        }
    }

    public int configGeneration() {
        synchronized (cfgLock) {
            return configGeneration;
        }
    }

    /** Negotiated features once FEATURES_OK is set, else what the driver wrote so far. */
    public long driverFeatures() {
        synchronized (cfgLock) {
            return driverFeatures;
        }
    }

    public int deviceFeatureSelect() {
        synchronized (cfgLock) {
            return deviceFeatureSelect;
        }
    }

    public void setDeviceFeatureSelect(int v) {
        synchronized (cfgLock) {
            deviceFeatureSelect = v;
        }
    }

    /** The 32 offered feature bits the device feature select points at; 0 beyond bit 63. */
    public int deviceFeaturesWord() {
        synchronized (cfgLock) {
            return (int) word(offeredFeatures, deviceFeatureSelect);
        }
    }

    public int driverFeatureSelect() {
        synchronized (cfgLock) {
            return driverFeatureSelect;
        }
    }

    public void setDriverFeatureSelect(int v) {
        synchronized (cfgLock) {
            driverFeatureSelect = v;
        }
    }

    public int driverFeaturesWord() {
        synchronized (cfgLock) {
            return (int) word(driverFeatures, driverFeatureSelect);
        }
    }

    private static long word(long features, int select) {
        return select == 0 ? features : select == 1 ? features >>> 32 : 0;
    }

    /** The driver writes 32 feature bits at the driver feature select; frozen once FEATURES_OK is set (§2.2). */
    public void writeDriverFeaturesWord(int v) {
        synchronized (cfgLock) {
            if ((status & DeviceStatus.FEATURES_OK) != 0) {
                return;
            }
            if (driverFeatureSelect == 0) {
                driverFeatures = (driverFeatures & 0xffff_ffff_0000_0000L) | (v & 0xffff_ffffL);
            } else if (driverFeatureSelect == 1) {
                driverFeatures = (driverFeatures & 0xffff_ffffL) | ((long) v << 32);
            }
        }
    }

    public int queueSelect() {
        synchronized (cfgLock) {
            return queueSelect;
        }
    }

    public void setQueueSelect(int v) {
        synchronized (cfgLock) {
            queueSelect = v & 0xffff;
        }
    }

    /** Whether the selected queue exists. */
    public boolean selectedQueueExists() {
        synchronized (cfgLock) {
            return queueSelect < numQueues;
        }
    }

    /** The selected queue's maximum size, 0 if there is no such queue. */
    public int selectedQueueMaxSize() {
        synchronized (cfgLock) {
            return queueSelect < numQueues ? queues[queueSelect].maxSize() : 0;
        }
    }

    /** The selected queue's size, 0 if there is no such queue. */
    public int selectedQueueSize() {
        synchronized (cfgLock) {
            return queueSelect < numQueues ? queueCfg[queueSelect].size : 0;
        }
    }

    public boolean selectedQueueEnabled() {
        synchronized (cfgLock) {
            return queueSelect < numQueues && queueCfg[queueSelect].enabled;
        }
    }

    public long selectedQueueAddress(Area a) {
        synchronized (cfgLock) {
            return queueSelect < numQueues ? queueCfg[queueSelect].address(a) : 0;
        }
    }

    /**
     * Sets the selected queue's size if it is a power of two no larger than its maximum (split
     * rings, §2.7) and the queue is not enabled; returns whether it was taken.
     */
    public boolean setSelectedQueueSize(int s) {
        synchronized (cfgLock) {
            QueueConfig c = configurable();
            if (c == null || s < 1 || s > Virtqueue.MAX_SIZE || Integer.bitCount(s) != 1
                    || s > queues[queueSelect].maxSize()) {
                return false;
            }
            c.size = s;
            return true;
        }
    }

    /** Sets the selected queue's ring address, all 64 bits; ignored once the queue is enabled. */
    public void setSelectedQueueAddress(Area a, long v) {
        synchronized (cfgLock) {
            QueueConfig c = configurable();
            if (c != null) {
                c.setAddress(a, v);
            }
        }
    }

    /** Sets the low or high 32 bits of the selected queue's ring address; ignored once the queue is enabled. */
    public void setSelectedQueueAddressHalf(Area a, boolean high, int v) {
        synchronized (cfgLock) {
            QueueConfig c = configurable();
            if (c != null) {
                long old = c.address(a);
                c.setAddress(a, high ? (old & 0xffff_ffffL) | ((long) v << 32)
                        : (old & 0xffff_ffff_0000_0000L) | (v & 0xffff_ffffL));
            }
        }
    }

    /** The selected queue's config if it exists and may still change (§4.1.4.3.2, §4.2.2.2: not once enabled). */
    private QueueConfig configurable() {
        if (queueSelect >= numQueues || queueCfg[queueSelect].enabled) {
            return null;
        }
        return queueCfg[queueSelect];
    }

    /** Bytes of the device configuration, little-endian, or 0 outside it. */
    public long readDeviceConfig(int offset, int size) {
        if (offset < 0 || offset + size > device.configSize()) {
            return 0;
        }
        byte[] b = new byte[size];
        device.readConfig(offset, b);
        long v = 0;
        for (int i = 0; i < size; i++) {
            v |= (b[i] & 0xffL) << (8 * i);
        }
        return v;
    }

    /** A driver write to the device configuration; outside it, ignored. */
    public void writeDeviceConfig(int offset, int size, long value) {
        if (offset < 0 || offset + size > device.configSize()) {
            return;
        }
        byte[] b = new byte[size];
        for (int i = 0; i < size; i++) {
            b[i] = (byte) (value >>> (8 * i));
        }
        device.writeConfig(offset, b);
    }

    // ---------------------------------------------------------------- status machine

    /** A driver write of device_status / Status: 0 resets (§2.4), otherwise bits accumulate (§2.1.1). */
    public void writeStatus(int value) {
        if (value == 0) {
            reset();
            return;
        }
        boolean activated = false;
        deviceLock.lock();
        try {
            boolean activate;
            boolean failed;
            synchronized (cfgLock) {
                int old = status;
                int requested = value & DeviceStatus.DRIVER_BITS;
                // §2.1.1: the driver never clears bits; only a reset (write 0) does.
                int now = old | requested;
                if ((now & DeviceStatus.FEATURES_OK) != 0 && (old & DeviceStatus.FEATURES_OK) == 0
                        && !featuresAcceptable(driverFeatures)) {
                    now &= ~DeviceStatus.FEATURES_OK; // §3.1.1 step 6: driver re-reads and sees refusal
                }
                if ((now & DeviceStatus.DRIVER_OK) != 0 && (now & DeviceStatus.FEATURES_OK) == 0) {
                    now &= ~DeviceStatus.DRIVER_OK;
                }
                status = now;
                activate = (now & DeviceStatus.DRIVER_OK) != 0 && (old & DeviceStatus.DRIVER_OK) == 0
                        && (now & (DeviceStatus.DEVICE_NEEDS_RESET | DeviceStatus.FAILED)) == 0;
                failed = (now & DeviceStatus.FAILED) != 0;
            }
            if (failed) {
                stopIo(); // §2.1: the driver gave up on the device; nothing it set up runs any more
            }
            if (activate) {
                try {
                    device.activate(context);
                    live = true;
                    activated = true;
                } catch (RuntimeException | Error e) {
                    failDevice("activation", e);
                }
            }
        } finally {
            deviceLock.unlock();
        }
        if (activated) {
            // Buffers made available before DRIVER_OK may be used now (§3.1.1 step 8).
            for (EventFd k : kicks) {
                k.signal();
            }
        }
    }

    private boolean featuresAcceptable(long f) {
        return (f & ~offeredFeatures) == 0 && VirtioFeatures.has(f, VirtioFeatures.VERSION_1);
    }

    /** Device reset (§2.4): waits for the request in progress, then forgets everything the driver set. */
    public void reset() {
        deviceLock.lock();
        try {
            live = false;
            contextWatches.forEach(EventLoop.Watch::close);
            contextWatches.clear();
            for (EventLoop.Timer t : timers) {
                t.cancel();
            }
            synchronized (cfgLock) {
                status = 0;
                deviceFeatureSelect = 0;
                driverFeatureSelect = 0;
                driverFeatures = 0;
                queueSelect = 0;
                for (int q = 0; q < numQueues; q++) {
                    queueCfg[q] = new QueueConfig();
                    queueCfg[q].size = queues[q].maxSize();
                }
            }
            for (Virtqueue q : queues) {
                q.reset();
            }
            try {
                device.reset();
            } catch (RuntimeException | Error e) {
                LOG.error("{}: device reset failed", name, e);
            }
            interrupts.reset();
        } finally {
            deviceLock.unlock();
        }
    }

    /** Enables the selected queue with the values programmed so far; bad rings set DEVICE_NEEDS_RESET. */
    public void enableSelectedQueue() {
        enableSelectedQueue(false);
    }

    /**
     * As {@link #enableSelectedQueue()}; with {@code onlyBeforeDriverOk}, not once DRIVER_OK is set
     * (virtio-mmio §4.2.3.2: QueueReady is written during setup). The transport checks the status
     * before calling, but a second vCPU may set DRIVER_OK in between: checked again here, under
     * deviceLock, which writeStatus holds while activating. (virtio-pci keeps allowing a queue
     * enabled after DRIVER_OK, e.g. a receive queue set up late: the device then starts using it.)
     */
    public void enableSelectedQueue(boolean onlyBeforeDriverOk) {
        int q;
        synchronized (cfgLock) {
            q = queueSelect;
        }
        if (q < numQueues) {
            enableQueue(q, onlyBeforeDriverOk);
        }
    }

    private void enableQueue(int q, boolean onlyBeforeDriverOk) {
        deviceLock.lock();
        try {
            QueueConfig c;
            long features;
            synchronized (cfgLock) {
                c = queueCfg[q];
                if (c.enabled || (onlyBeforeDriverOk && (status & DeviceStatus.DRIVER_OK) != 0)) {
                    return;
                }
                features = driverFeatures;
            }
            Virtqueue vq = queues[q];
            vq.reset();
            vq.setSize(c.size);
            vq.setAddresses(c.desc, c.driver, c.device);
            vq.setFeatures(VirtioFeatures.has(features, VirtioFeatures.RING_EVENT_IDX),
                    VirtioFeatures.has(features, VirtioFeatures.RING_INDIRECT_DESC));
            if (vq.enable()) {
                synchronized (cfgLock) {
                    c.enabled = true;
                }
            } else {
                markNeedsReset("queue " + q + " enabled with rings outside guest RAM or misaligned");
            }
        } finally {
            deviceLock.unlock();
        }
    }

    /**
     * Disables the selected queue (virtio-mmio QueueReady = 0, §4.2.2) while the device is not
     * running it (DRIVER_OK clear); its programmed values stay. Returns whether it was disabled.
     */
    public boolean disableSelectedQueue() {
        deviceLock.lock();
        try {
            synchronized (cfgLock) {
                if (queueSelect >= numQueues || (status & DeviceStatus.DRIVER_OK) != 0) {
                    return false;
                }
                queueCfg[queueSelect].enabled = false;
                queues[queueSelect].reset();
                return true;
            }
        } finally {
            deviceLock.unlock();
        }
    }

    /** §2.1.2: stop, flag DEVICE_NEEDS_RESET and tell the driver with a config interrupt. */
    private void markNeedsReset(String why) {
        markNeedsReset(why, null);
    }

    /** As above; {@code cause} (a device bug, not guest input) is logged with its stack, once per failure. */
    private void markNeedsReset(String why, Throwable cause) {
        boolean notify;
        synchronized (cfgLock) {
            if ((status & DeviceStatus.DEVICE_NEEDS_RESET) != 0) {
                return;
            }
            if (cause == null) {
                LOG.warn("{}: device needs reset: {}", name, why);
            } else {
                LOG.error("{}: device needs reset: {}", name, why, cause);
            }
            status |= DeviceStatus.DEVICE_NEEDS_RESET;
            configGeneration = (configGeneration + 1) & 0xff;
            notify = (status & DeviceStatus.DRIVER_OK) != 0;
        }
        stopIo();
        if (notify) {
            interrupts.signalConfigChange();
        }
    }

    /** No more processing until a reset: not live, and no descriptor of the device's is polled. */
    private void stopIo() {
        live = false;
        for (EventLoop.Watch w : contextWatches) {
            w.setEvents((short) 0);
        }
    }

    private void onKick(int q) {
        kicks[q].drain();
        serve(q);
    }

    /** A kick, or a queue timer falling due: the device serves the queue if it is live. */
    private void serve(int q) {
        deviceLock.lock();
        try {
            if (live && !suspended && queues[q].isReady() && !queues[q].isBroken()) {
                device.queueNotified(q);
            }
        } catch (VirtqueueException e) {
            markNeedsReset(e.getMessage());
        } catch (RuntimeException | Error e) {
            // A device bug or an Error (say OutOfMemoryError): this device fails, the VMM goes on.
            failDevice("queue " + q, e);
        } finally {
            deviceLock.unlock();
        }
    }

    private void failDevice(String where, Throwable e) {
        try {
            markNeedsReset(where + ": " + e, e);
        } catch (RuntimeException | Error again) {
            // Logging itself failed (out of memory): at least stop the device.
            live = false;
        }
    }

    // ---------------------------------------------------------------- diagnostics

    /**
     * The device's I/O thread as diagnostics see it: its id, how often its poll loop woke up, how
     * many of the device's own descriptors (not the queue kicks) it polls now, how many queue
     * timers are armed and how many have fallen due so far.
     */
    public record IoThreadStats(long threadId, long loopIterations, int armedWatches, int armedTimers, long timerRuns) {}

    /** Waits for the I/O thread to go round once ({@link EventLoop#sync}); false if it did not within {@code timeout}. */
    public boolean syncIo(Duration timeout) {
        return loop.sync(timeout);
    }

    public IoThreadStats ioStats() {
        int armed = 0;
        deviceLock.lock();
        try {
            for (EventLoop.Watch w : contextWatches) {
                armed += w.events() != 0 ? 1 : 0;
            }
        } finally {
            deviceLock.unlock();
        }
        int timersArmed = 0;
        for (EventLoop.Timer t : timers) {
            timersArmed += t.isArmed() ? 1 : 0;
        }
        return new IoThreadStats(loop.threadId(), loop.iterations(), armed, timersArmed, loop.timerRuns());
    }

    /** Chains rejected for bad buffers across all queues. */
    public long rejectedChains() {
        long n = 0;
        for (Virtqueue q : queues) {
            n += q.rejectedChains();
        }
        return n;
    }

    // ---------------------------------------------------------------- device context

    private final class Context implements VirtioContext {
        @Override
        public GuestMemory memory() {
            return memory;
        }

        @Override
        public long features() {
            synchronized (cfgLock) {
                return driverFeatures;
            }
        }

        @Override
        public Virtqueue queue(int index) {
            return queues[index];
        }

        @Override
        public void notifyQueue(int index) {
            interrupts.signalQueue(index);
        }

        @Override
        public void configChanged() {
            synchronized (cfgLock) {
                configGeneration = (configGeneration + 1) & 0xff;
                if ((status & DeviceStatus.DRIVER_OK) == 0) {
                    return;
                }
            }
            interrupts.signalConfigChange();
        }

        @Override
        public void fail(String reason) {
            markNeedsReset(reason);
        }

        @Override
        public EventLoop.Watch watch(int fd, short events, IoHandler handler) {
            EventLoop.Watch[] self = new EventLoop.Watch[1];
            EventLoop.Watch w = loop.watch(fd, (short) 0, rev -> {
                deviceLock.lock();
                try {
                    if (live && !suspended) {
                        handler.ready(rev);
                    } else if (!suspended) {
                        // Not live (FAILED, NEEDS_RESET, being reset): nobody will read this fd
                        // until a reset makes new watches, so stop polling it.
                        self[0].setEvents((short) 0);
                    }
                } catch (VirtqueueException e) {
                    markNeedsReset(e.getMessage());
                } catch (RuntimeException | Error e) {
                    failDevice("I/O handler", e);
                } finally {
                    deviceLock.unlock();
                }
            });
            self[0] = w;
            contextWatches.add(w);
            w.setEvents(events); // armed only once the handler can find its watch
            return w;
        }

        @Override
        public void kick(int index) {
            VirtioTransportCore.this.notifyQueue(index);
        }

        @Override
        public void kickAfter(int index, long delayNanos) {
            if (index >= 0 && index < numQueues) {
                timers[index].armAfter(delayNanos);
            }
        }
    }

    // ---------------------------------------------------------------- snapshots

    /**
     * Stops request processing for a snapshot: waits for the request being processed (requests
     * are synchronous, so afterwards none is in flight and every completed one is in the used
     * ring), stops polling the device's file descriptors, and lets the device make its writes
     * durable ({@link VirtioDevice#quiesce}). Kicks arriving meanwhile are replayed by
     * {@link #resumeIo}. Call with the vCPUs paused.
     */
    public void suspendIo() throws java.io.IOException {
        deviceLock.lock();
        try {
            if (!suspended) {
                suspended = true;
                suspendedEvents = new short[contextWatches.size()];
                for (int i = 0; i < contextWatches.size(); i++) {
                    suspendedEvents[i] = contextWatches.get(i).events();
                    contextWatches.get(i).setEvents((short) 0);
                }
            }
            device.quiesce();
        } finally {
            deviceLock.unlock();
        }
    }

    /** Whether {@link #suspendIo} holds this device's I/O. */
    public boolean ioSuspended() {
        deviceLock.lock();
        try {
            return suspended;
        } finally {
            deviceLock.unlock();
        }
    }

    /** Undoes {@link #suspendIo} and re-polls every queue (a kick may have been swallowed meanwhile). */
    public void resumeIo() {
        deviceLock.lock();
        try {
            if (!suspended) {
                return;
            }
            for (int i = 0; i < contextWatches.size() && i < suspendedEvents.length; i++) {
                contextWatches.get(i).setEvents(suspendedEvents[i]);
            }
            suspended = false;
        } finally {
            deviceLock.unlock();
        }
        for (EventFd k : kicks) {
            k.signal();
        }
    }

    /** The core's state, the device's own nested in it; requires {@link #suspendIo} first. */
    public VirtioCoreState save() {
        deviceLock.lock();
        try {
            if (!suspended) {
                throw new IllegalStateException(name + ": suspend I/O before capturing state");
            }
            Record devState = device.save();
            synchronized (cfgLock) {
                List<VirtioCoreState.Queue> qs = new ArrayList<>();
                for (int q = 0; q < numQueues; q++) {
                    QueueConfig c = queueCfg[q];
                    qs.add(new VirtioCoreState.Queue(c.size, c.enabled, c.desc, c.driver, c.device,
                            c.enabled ? queues[q].position() : null));
                }
                return new VirtioCoreState(device.deviceType(), deviceFeatureSelect, driverFeatureSelect,
                        driverFeatures, status, configGeneration, queueSelect, qs, devState);
            }
        } finally {
            deviceLock.unlock();
        }
    }

    /**
     * Checks a saved state against this device before anything is applied: device type, queue
     * count, offered features, a consistent status, queue sizes. A mismatch is a
     * {@link DeviceMismatchException} naming the field.
     */
    public void check(VirtioCoreState s) {
        check(s.deviceType() == device.deviceType(), "device type " + s.deviceType() + ", this is " + device.deviceType());
        check(s.queues().size() == numQueues, s.queues().size() + " queues, this device has " + numQueues);
        check((s.driverFeatures() & ~offeredFeatures) == 0, "driver features 0x" + Long.toHexString(s.driverFeatures())
                + " include some this device does not offer (0x" + Long.toHexString(offeredFeatures) + ")");
        boolean driverOk = (s.status() & DeviceStatus.DRIVER_OK) != 0;
        check(!driverOk || (s.status() & DeviceStatus.FEATURES_OK) != 0, "status DRIVER_OK without FEATURES_OK");
        check((s.status() & DeviceStatus.FEATURES_OK) == 0 || featuresAcceptable(s.driverFeatures()),
                "status FEATURES_OK with unacceptable features");
        for (int q = 0; q < numQueues; q++) {
            VirtioCoreState.Queue c = s.queues().get(q);
            check(c.size() <= queues[q].maxSize(), "queue " + q + " size " + c.size() + " exceeds " + queues[q].maxSize());
        }
    }

    /**
     * Applies a checked {@link #save} to this fresh core (status 0, vCPUs not running): registers,
     * queue rings at their saved positions, then {@code transportPart} (the transport's
     * interrupt state, under the device lock), then the device state after re-activating the
     * device. Throws {@link DeviceMismatchException} if the rings do not fit guest RAM; the
     * caller then resets. On success every queue is re-polled.
     */
    public void apply(VirtioCoreState s, Runnable transportPart) {
        check(s);
        boolean driverOk = (s.status() & DeviceStatus.DRIVER_OK) != 0;
        boolean broken = (s.status() & (DeviceStatus.DEVICE_NEEDS_RESET | DeviceStatus.FAILED)) != 0;
        deviceLock.lock();
        try {
            synchronized (cfgLock) {
                deviceFeatureSelect = s.deviceFeatureSelect();
                driverFeatureSelect = s.driverFeatureSelect();
                driverFeatures = s.driverFeatures();
                status = s.status();
                configGeneration = s.configGeneration();
                queueSelect = s.queueSelect();
            }
            boolean eventIdx = VirtioFeatures.has(s.driverFeatures(), VirtioFeatures.RING_EVENT_IDX);
            boolean indirect = VirtioFeatures.has(s.driverFeatures(), VirtioFeatures.RING_INDIRECT_DESC);
            for (int q = 0; q < numQueues; q++) {
                VirtioCoreState.Queue c = s.queues().get(q);
                QueueConfig qc = new QueueConfig();
                qc.size = c.size();
                qc.desc = c.desc();
                qc.driver = c.driver();
                qc.device = c.device();
                Virtqueue vq = queues[q];
                vq.reset();
                if (c.enabled()) {
                    vq.setSize(c.size());
                    vq.setAddresses(c.desc(), c.driver(), c.device());
                    vq.setFeatures(eventIdx, indirect);
                    check(vq.enable(), "queue " + q + " rings are misaligned or outside guest RAM");
                    vq.restorePosition(c.position());
                    qc.enabled = true;
                }
                synchronized (cfgLock) {
                    queueCfg[q] = qc;
                }
            }
            transportPart.run();
            boolean active = driverOk && !broken;
            if (active) {
                device.activate(context);
                live = true;
            }
            device.restoreState(s.device(), active);
        } finally {
            deviceLock.unlock();
        }
        for (EventFd k : kicks) {
            k.signal();
        }
    }

    /** Throws a {@link DeviceMismatchException} about this device's state unless {@code ok}. */
    public void check(boolean ok, String what) {
        if (!ok) {
            throw new DeviceMismatchException(name, name + " state: " + what);
        }
    }

    // ---------------------------------------------------------------- teardown

    /** Stops the I/O thread; the transport then unbinds its notify addresses before {@link #close}. */
    public void stopLoop() {
        if (!loopClosed) {
            loopClosed = true;
            loop.close();
        }
    }

    /** Stops the I/O thread, releases the kick eventfds and closes the device. */
    @Override
    public void close() {
        stopLoop();
        closeKicks();
        try {
            device.close();
        } catch (Exception e) {
            LOG.warn("{}: closing device failed: {}", name, e.toString());
        }
    }

    /** Releases the kick eventfds only: a transport whose own construction failed after the core's. */
    public void closeKicks() {
        for (EventFd k : kicks) {
            if (k != null) {
                k.close();
            }
        }
    }

    @Override
    public String toString() {
        return name;
    }
}
