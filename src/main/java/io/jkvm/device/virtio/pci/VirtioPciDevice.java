package io.jkvm.device.virtio.pci;

import io.jkvm.device.Bus;
import io.jkvm.device.BusDevice;
import io.jkvm.device.IrqLine;
import io.jkvm.device.msi.MsiController;
import io.jkvm.device.msi.MsiVector;
import io.jkvm.device.pci.BarRemapListener;
import io.jkvm.device.pci.PciBar;
import io.jkvm.device.pci.PciConfigSpace;
import io.jkvm.device.pci.PciDevice;
import io.jkvm.device.pci.PciId;
import io.jkvm.device.virtio.DeviceStatus;
import io.jkvm.device.virtio.EventFd;
import io.jkvm.device.virtio.EventLoop;
import io.jkvm.device.virtio.VirtioContext;
import io.jkvm.device.virtio.VirtioDevice;
import io.jkvm.snapshot.DeviceMismatchException;
import io.jkvm.snapshot.Persist;
import io.jkvm.device.virtio.VirtioFeatures;
import io.jkvm.device.virtio.Virtqueue;
import io.jkvm.device.virtio.VirtqueueException;
import io.jkvm.kvm.Native;
import io.jkvm.memory.GuestMemory;
import io.jkvm.resources.NanoClock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The virtio 1.x modern PCI transport (virtio 1.2 §4.1) around a {@link VirtioDevice}.
 *
 * <p><b>Identity</b> (§4.1.2): vendor 0x1AF4, device 0x1040 + virtio device ID, revision 1,
 * subsystem vendor 0x1AF4. <b>BAR 0</b> is a 64-bit, non-prefetchable 32 KiB memory BAR
 * (see {@link VirtioPciLayout}) holding common config, ISR, device config, the notify area
 * (multiplier 4: queue q at +4q) and the MSI-X table and PBA. Vendor capabilities of types 1-5
 * point into it (§4.1.4), type 5 (PCI config access) is fully implemented; an MSI-X capability
 * follows (PCI 3.0 §6.8.2).
 *
 * <p><b>Interrupts</b>: with MSI-X enabled, used-buffer notifications go to the queue's vector
 * and config changes to msix_config ({@link MsixTable}, masking and PBA there). Otherwise INTx
 * pin A is driven level-triggered from the ISR (bit 0 queue, bit 1 config) and reading the ISR
 * clears it and drops the line (§4.1.4.5).
 *
 * <p><b>Kicks</b>: each queue has an eventfd watched by the device's {@link EventLoop}; when the
 * BAR is mapped the notify addresses are bound to them with ioeventfd, otherwise the MMIO write
 * handler signals the eventfd. Device code never runs on a vCPU thread, except
 * {@link VirtioDevice#activate}/{@link VirtioDevice#reset}, which are short. Each queue also has
 * a one-shot timer on the loop ({@link VirtioContext#kickAfter}) that serves it like a kick when
 * it falls due: a rate-limited device waits for tokens with it, never on the I/O thread.
 *
 * <p><b>Locks</b>: {@code deviceLock} serialises request processing (I/O thread) with
 * activation, queue enable and reset (vCPU). A reset therefore waits for an in-flight request
 * to finish, which is what reset means (§2.4: no more DMA afterwards). The I/O thread holds it
 * for one bounded turn at a time (a drain completes at most
 * {@link VirtioContext#MAX_CHAINS_PER_TURN} chains, then re-kicks itself), and the lock is fair,
 * so a reset or {@link #suspendIo} waits for at most the turn in progress whatever the guest
 * keeps publishing. Register reads and the ordinary register writes take only {@code cfgLock},
 * so a vCPU never waits behind device I/O for them. Order: deviceLock → cfgLock → (isr, config
 * space, MSI-X). Config-space hooks run under the config space lock and only touch the MSI-X
 * table.
 *
 * <p><b>Errors</b>: a corrupt queue, a device failure (any exception or Error out of the device,
 * including OutOfMemoryError) or a queue enable with bad ring addresses set DEVICE_NEEDS_RESET
 * (logged once) and stop processing until the driver resets (§2.1.2). Nothing a guest does
 * raises an exception out of a bus or config access.
 *
 * <p><b>Watches</b>: the device's file descriptors (a TAP, console input) are polled only while
 * the device is live. Whatever stops it (FAILED, DEVICE_NEEDS_RESET, reset) disarms every watch
 * at once, and a watch that fires anyway is disarmed rather than skipped, so a readable
 * descriptor nobody will read can never make the I/O thread spin.
 */
public final class VirtioPciDevice implements PciDevice, AutoCloseable, Persist<VirtioPciState> {
    private static final Logger LOG = LoggerFactory.getLogger(VirtioPciDevice.class);

    public static final int VENDOR_ID = 0x1af4;
    public static final int DEVICE_ID_BASE = 0x1040;
    public static final int NO_VECTOR = 0xffff;
    public static final int ISR_QUEUE = 1;
    public static final int ISR_CONFIG = 2;

    /** Per-queue driver-programmed values (§4.1.4.3), shadowed until queue_enable. */
    private static final class QueueConfig {
        int size;
        int msixVector = NO_VECTOR;
        boolean enabled;
        long desc;
        long driver;
        long device;
    }

    private final VirtioDevice device;
    private final String name;
    private final GuestMemory memory;
    private final IrqLine intx;
    private final NotifyRegistrar notifyRegistrar;
    private final Bus mmio;
    private final PciConfigSpace config;
    private final int msixCap;
    private final int pciCfgCap;
    private final long offeredFeatures;
    private final int numQueues;
    private final Virtqueue[] queues;
    private final QueueConfig[] queueCfg;
    private final EventFd[] kicks;
    private final EventLoop.Timer[] timers;
    private final List<MsiVector> vectors = new ArrayList<>();
    private final MsixTable msix;
    private final EventLoop loop;
    private final BarDevice bar = new BarDevice();
    private final Context context = new Context();

    /** Fair: a vCPU waiting to reset gets it before the I/O thread's next turn. */
    private final ReentrantLock deviceLock = new ReentrantLock(true);
    private final Object cfgLock = new Object();
    private final Object isrLock = new Object();

    // cfgLock
    private int deviceFeatureSelect;
    private int driverFeatureSelect;
    private long driverFeatures;
    private int status;
    private int configGeneration;
    private int queueSelect;
    private int msixConfig = NO_VECTOR;
    // deviceLock
    private final List<EventLoop.Watch> contextWatches = new ArrayList<>();
    private volatile boolean live;
    /** I/O stopped for a snapshot (see {@link #suspendIo}); guarded by deviceLock. */
    private boolean suspended;
    private short[] suspendedEvents = new short[0];
    // isrLock
    private int isr;
    private boolean intxLevel;
    // config space lock (remap listener)
    private Bus.Registration barRegistration;
    private final List<NotifyRegistrar.Binding> bindings = new ArrayList<>();
    private volatile BarRemapListener extraListener = BarRemapListener.NONE;
    private volatile boolean closed;

    /**
     * @param intx INTx pin A line (level-triggered IOAPIC GSI), or null for none
     * @param intxGsi the GSI behind {@code intx}, reported in the Interrupt Line register
     */
    public VirtioPciDevice(VirtioDevice device, GuestMemory memory, Bus mmio, MsiController msi,
            IrqLine intx, int intxGsi, NotifyRegistrar notifyRegistrar) {
        this(device, memory, mmio, msi, intx, intxGsi, notifyRegistrar, NanoClock.SYSTEM);
    }

    /** As above, with the queue timers ({@link VirtioContext#kickAfter}) on {@code clock} (tests drive it by hand). */
    public VirtioPciDevice(VirtioDevice device, GuestMemory memory, Bus mmio, MsiController msi,
            IrqLine intx, int intxGsi, NotifyRegistrar notifyRegistrar, NanoClock clock) {
        this.device = Objects.requireNonNull(device, "device");
        this.memory = Objects.requireNonNull(memory, "memory");
        this.mmio = Objects.requireNonNull(mmio, "mmio");
        this.intx = intx;
        this.notifyRegistrar = notifyRegistrar == null ? NotifyRegistrar.NONE : notifyRegistrar;
        this.name = "virtio-" + device.deviceType();
        this.numQueues = device.queueCount();
        if (numQueues < 1 || numQueues > VirtioPciLayout.MAX_QUEUES) {
            throw new IllegalArgumentException("queue count out of range: " + numQueues);
        }
        if (device.configSize() > VirtioPciLayout.DEVICE_LENGTH) {
            throw new IllegalArgumentException("device config too large: " + device.configSize());
        }
        this.offeredFeatures = device.deviceFeatures() | VirtioFeatures.TRANSPORT;

        int pciDeviceId = DEVICE_ID_BASE + device.deviceType();
        config = new PciConfigSpace(new PciId(VENDOR_ID, pciDeviceId, device.pciClassCode(), 1, VENDOR_ID, pciDeviceId));
        config.addBar(PciBar.memory64(VirtioPciLayout.BAR, VirtioPciLayout.BAR_SIZE, false));
        VirtioPciLayout.addVirtioCap(config, VirtioPciLayout.CAP_COMMON, VirtioPciLayout.COMMON_OFFSET, VirtioPciLayout.COMMON_LENGTH);
        VirtioPciLayout.addNotifyCap(config, VirtioPciLayout.NOTIFY_OFFSET, 4 * numQueues);
        VirtioPciLayout.addVirtioCap(config, VirtioPciLayout.CAP_ISR, VirtioPciLayout.ISR_OFFSET, VirtioPciLayout.ISR_LENGTH);
        if (device.configSize() > 0) {
            VirtioPciLayout.addVirtioCap(config, VirtioPciLayout.CAP_DEVICE, VirtioPciLayout.DEVICE_OFFSET, device.configSize());
        }
        pciCfgCap = VirtioPciLayout.addPciCfgCap(config);
        if (intx != null) {
            config.setInterruptPin(1);
            config.setInterruptLine(intxGsi);
        }

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
            for (int v = 0; v < numQueues + 1; v++) {
                vectors.add(msi.allocate());
            }
        } catch (RuntimeException e) {
            releaseResources();
            throw e;
        }
        msix = new MsixTable(vectors);
        msixCap = VirtioPciLayout.addMsixCap(config, msix.size());
        config.setWriteHook(this::afterConfigWrite);
        config.setBarRemapListener(this::onBarRemap);
        loop.start();
    }

    public VirtioDevice device() {
        return device;
    }

    @Override
    public PciConfigSpace config() {
        return config;
    }

    /** The BAR's register file, for tests and for VMMs that map it themselves. */
    public BusDevice barDevice() {
        return bar;
    }

    public MsixTable msix() {
        return msix;
    }

    /** Current device_status (for diagnostics and tests). */
    public int status() {
        synchronized (cfgLock) {
            return status;
        }
    }

    /** Negotiated features once FEATURES_OK is set, else what the driver wrote so far. */
    public long driverFeatures() {
        synchronized (cfgLock) {
            return driverFeatures;
        }
    }

    public long offeredFeatures() {
        return offeredFeatures;
    }

    /**
     * The device's I/O thread as diagnostics see it: its id (for its CPU time and allocations),
     * how often its poll loop woke up, how many of the device's own descriptors (a TAP,
     * console input; not the queue kicks) it polls now, how many queue timers are armed and how
     * many have fallen due so far ({@link VirtioContext#kickAfter}).
     */
    public record IoStats(long threadId, long loopIterations, int armedWatches, int armedTimers, long timerRuns) {}

    /** Waits for the I/O thread to go round once ({@link EventLoop#sync}); false if it did not within {@code timeout}. */
    public boolean syncIo(java.time.Duration timeout) {
        return loop.sync(timeout);
    }

    public IoStats ioStats() {
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
        return new IoStats(loop.threadId(), loop.iterations(), armed, timersArmed, loop.timerRuns());
    }

    /** Chains rejected for bad buffers across all queues. */
    public long rejectedChains() {
        long n = 0;
        for (Virtqueue q : queues) {
            n += q.rejectedChains();
        }
        return n;
    }

    // ---------------------------------------------------------------- PCI config side

    @Override
    public int readConfig(int register) {
        if (register == (pciCfgCap + VirtioPciLayout.PCI_CFG_DATA) / 4) {
            return pciCfgAccess(false, 0);
        }
        return config.readDword(register);
    }

    @Override
    public void writeConfig(int register, int byteOffset, int size, int value) {
        PciDevice.super.writeConfig(register, byteOffset, size, value);
        // Done here, outside the config space lock: a BAR write can reset the device.
        if (register == (pciCfgCap + VirtioPciLayout.PCI_CFG_DATA) / 4) {
            pciCfgAccess(true, config.read(pciCfgCap + VirtioPciLayout.PCI_CFG_DATA, 4));
        }
    }

    /** VIRTIO_PCI_CAP_PCI_CFG window (§4.1.4.9): bar/offset/length select a BAR access. */
    private int pciCfgAccess(boolean write, int value) {
        int barNo = config.read(pciCfgCap + VirtioPciLayout.PCI_CFG_BAR, 1);
        long off = config.read(pciCfgCap + VirtioPciLayout.PCI_CFG_OFFSET, 4) & 0xffff_ffffL;
        int len = config.read(pciCfgCap + VirtioPciLayout.PCI_CFG_LENGTH, 4);
        if (barNo != VirtioPciLayout.BAR || !(len == 1 || len == 2 || len == 4) || off % len != 0
                || off + len > VirtioPciLayout.BAR_SIZE) {
            return write ? 0 : config.read(pciCfgCap + VirtioPciLayout.PCI_CFG_DATA, 4);
        }
        if (write) {
            bar.write(off, len, value & Bus.sizeMask(len));
            return 0;
        }
        return (int) bar.read(off, len);
    }

    private void afterConfigWrite(int offset, int size) {
        int ctl = msixCap + 2;
        if (offset < ctl + 2 && offset + size > ctl) {
            int v = config.read(ctl, 2);
            msix.setControl((v & 0x8000) != 0, (v & 0x4000) != 0);
        }
    }

    @Override
    public void setBarRemapListener(BarRemapListener listener) {
        extraListener = listener == null ? BarRemapListener.NONE : listener;
    }

    /** Runs under the config space lock on the vCPU doing the config write. */
    private void onBarRemap(PciBar b, long oldAddress, long newAddress) {
        if (b.index() == VirtioPciLayout.BAR) {
            unmapBar();
            if (newAddress != PciBar.UNMAPPED && !closed) {
                mapBar(newAddress);
            }
        }
        try {
            extraListener.onBarRemap(b, oldAddress, newAddress);
        } catch (RuntimeException e) {
            LOG.warn("{}: BAR remap listener failed: {}", name, e.toString());
        }
    }

    private void mapBar(long base) {
        if (base < 0 || base > Long.MAX_VALUE - VirtioPciLayout.BAR_SIZE) {
            LOG.warn("{}: BAR at 0x{} wraps the address space; left unmapped", name, Long.toHexString(base));
            return;
        }
        try {
            barRegistration = mmio.register(base, VirtioPciLayout.BAR_SIZE, bar);
        } catch (IllegalArgumentException e) {
            LOG.warn("{}: cannot map BAR 0 at 0x{}: {}; left unmapped", name, Long.toHexString(base), e.getMessage());
            return;
        }
        for (int q = 0; q < numQueues; q++) {
            NotifyRegistrar.Binding bnd = notifyRegistrar.bind(base + VirtioPciLayout.NOTIFY_OFFSET
                    + (long) VirtioPciLayout.NOTIFY_MULTIPLIER * q, 2, kicks[q]);
            if (bnd != null) {
                bindings.add(bnd);
            }
        }
    }

    private void unmapBar() {
        bindings.forEach(NotifyRegistrar.Binding::close);
        bindings.clear();
        if (barRegistration != null) {
            barRegistration.unregister();
            barRegistration = null;
        }
    }

    /** PCI function reset (platform reset): config space, MSI-X and the virtio device. */
    @Override
    public void reset() {
        config.reset();
        msix.reset();
        resetDevice();
    }

    // ---------------------------------------------------------------- virtio state machine

    private void resetDevice() {
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
                msixConfig = NO_VECTOR;
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
            synchronized (isrLock) {
                isr = 0;
                updateIntx();
            }
        } finally {
            deviceLock.unlock();
        }
    }

    private void writeStatus(int value) {
        if (value == 0) {
            resetDevice();
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

    private void enableQueue(int q) {
        deviceLock.lock();
        try {
            QueueConfig c;
            long features;
            synchronized (cfgLock) {
                c = queueCfg[q];
                if (c.enabled) {
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

    /** §2.1.2: stop, flag DEVICE_NEEDS_RESET and tell the driver with a config interrupt. */
    private void markNeedsReset(String why) {
        markNeedsReset(why, null);
    }

    /** As above; {@code cause} (a device bug, not guest input) is logged with its stack, once per failure. */
    private void markNeedsReset(String why, Throwable cause) {
        int vector;
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
            vector = msixConfig;
            notify = (status & DeviceStatus.DRIVER_OK) != 0;
        }
        stopIo();
        if (notify) {
            signal(vector, ISR_CONFIG);
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

    // ---------------------------------------------------------------- interrupts

    private void signal(int vector, int isrBit) {
        if (!msix.signal(vector)) {
            synchronized (isrLock) {
                isr |= isrBit;
                updateIntx();
            }
        }
    }

    private int readIsr() {
        synchronized (isrLock) {
            int v = isr;
            isr = 0;
            updateIntx();
            return v;
        }
    }

    private void updateIntx() {
        boolean level = isr != 0;
        if (level != intxLevel) {
            intxLevel = level;
            config.setInterruptStatus(level);
            if (intx != null) {
                intx.setLevel(level && !config.interruptDisabled());
            }
        }
    }

    /** Whether the INTx line is asserted (tests). */
    public boolean intxAsserted() {
        synchronized (isrLock) {
            return intxLevel;
        }
    }

    // ---------------------------------------------------------------- common configuration

    private long readCommon(int offset, int size) {
        ByteBuffer b = ByteBuffer.allocate(VirtioPciLayout.COMMON_LENGTH + 8).order(ByteOrder.LITTLE_ENDIAN);
        synchronized (cfgLock) {
            int qs = queueSelect;
            QueueConfig c = qs < numQueues ? queueCfg[qs] : null;
            b.putInt(0x00, deviceFeatureSelect);
            long df = deviceFeatureSelect == 0 ? offeredFeatures : deviceFeatureSelect == 1 ? offeredFeatures >>> 32 : 0;
            b.putInt(0x04, (int) df);
            b.putInt(0x08, driverFeatureSelect);
            long drf = driverFeatureSelect == 0 ? driverFeatures : driverFeatureSelect == 1 ? driverFeatures >>> 32 : 0;
            b.putInt(0x0c, (int) drf);
            b.putShort(0x10, (short) msixConfig);
            b.putShort(0x12, (short) numQueues);
            b.put(0x14, (byte) status);
            b.put(0x15, (byte) configGeneration);
            b.putShort(0x16, (short) qs);
            if (c != null) {
                b.putShort(0x18, (short) c.size);
                b.putShort(0x1a, (short) c.msixVector);
                b.putShort(0x1c, (short) (c.enabled ? 1 : 0));
                b.putShort(0x1e, (short) qs); // queue_notify_off: queue q notifies at +4q
                b.putLong(0x20, c.desc);
                b.putLong(0x28, c.driver);
                b.putLong(0x30, c.device);
            }
        }
        long v = 0;
        for (int i = 0; i < size; i++) {
            v |= (b.get(offset + i) & 0xffL) << (8 * i);
        }
        return v;
    }

    private void writeCommon(int offset, int size, long value) {
        int v32 = (int) value;
        switch (offset) {
            case 0x00 -> { if (size == 4) { synchronized (cfgLock) { deviceFeatureSelect = v32; } } }
            case 0x08 -> { if (size == 4) { synchronized (cfgLock) { driverFeatureSelect = v32; } } }
            case 0x0c -> { if (size == 4) { writeDriverFeatures(v32); } }
            case 0x10 -> { if (size == 2) { synchronized (cfgLock) { msixConfig = vectorOrNone(v32); } } }
            case 0x14 -> { if (size == 1) { writeStatus(v32 & 0xff); } }
            case 0x16 -> { if (size == 2) { synchronized (cfgLock) { queueSelect = v32 & 0xffff; } } }
            case 0x18 -> { if (size == 2) { writeQueue(c -> {
                int s = v32 & 0xffff;
                if (s >= 1 && s <= Virtqueue.MAX_SIZE && Integer.bitCount(s) == 1 && s <= queues[queueSelect].maxSize()) {
                    c.size = s;
                }
            }); } }
            case 0x1a -> { if (size == 2) { writeQueue(c -> c.msixVector = vectorOrNone(v32)); } }
            case 0x1c -> { if (size == 2 && (v32 & 0xffff) == 1) { enableSelectedQueue(); } }
            case 0x20, 0x24, 0x28, 0x2c, 0x30, 0x34 -> writeQueueAddress(offset, size, value);
            default -> { }
        }
    }

    private void writeDriverFeatures(int v) {
        synchronized (cfgLock) {
            if ((status & DeviceStatus.FEATURES_OK) != 0) {
                return; // frozen after negotiation (§2.2)
            }
            if (driverFeatureSelect == 0) {
                driverFeatures = (driverFeatures & 0xffff_ffff_0000_0000L) | (v & 0xffff_ffffL);
            } else if (driverFeatureSelect == 1) {
                driverFeatures = (driverFeatures & 0xffff_ffffL) | ((long) v << 32);
            }
        }
    }

    private int vectorOrNone(int v) {
        v &= 0xffff;
        // §4.1.5.1.2: a vector the device cannot use reads back as NO_VECTOR.
        return v < msix.size() ? v : NO_VECTOR;
    }

    private interface QueueWrite {
        void apply(QueueConfig c);
    }

    private void writeQueue(QueueWrite w) {
        synchronized (cfgLock) {
            if (queueSelect < numQueues && !queueCfg[queueSelect].enabled) {
                w.apply(queueCfg[queueSelect]);
            } else if (queueSelect < numQueues) {
                // msix vector may change while enabled; sizes and addresses may not (§4.1.4.3.2).
                QueueConfig probe = new QueueConfig();
                probe.msixVector = queueCfg[queueSelect].msixVector;
                w.apply(probe);
                queueCfg[queueSelect].msixVector = probe.msixVector;
            }
        }
    }

    private void writeQueueAddress(int offset, int size, long value) {
        if (!(size == 4 || (size == 8 && offset % 8 == 0))) {
            return;
        }
        writeQueue(c -> {
            int field = (offset - 0x20) / 8;
            boolean high = offset % 8 == 4;
            long old = field == 0 ? c.desc : field == 1 ? c.driver : c.device;
            long now;
            if (size == 8) {
                now = value;
            } else if (high) {
                now = (old & 0xffff_ffffL) | (value << 32);
            } else {
                now = (old & 0xffff_ffff_0000_0000L) | (value & 0xffff_ffffL);
            }
            switch (field) {
                case 0 -> c.desc = now;
                case 1 -> c.driver = now;
                default -> c.device = now;
            }
        });
    }

    private void enableSelectedQueue() {
        int q;
        synchronized (cfgLock) {
            q = queueSelect;
        }
        if (q < numQueues) {
            enableQueue(q);
        }
    }

    // ---------------------------------------------------------------- BAR 0 register file

    private final class BarDevice implements BusDevice {
        @Override
        public long read(long offset, int size) {
            try {
                if (offset >= VirtioPciLayout.COMMON_OFFSET && offset + size <= VirtioPciLayout.COMMON_LENGTH) {
                    return readCommon((int) offset, size);
                }
                if (offset == VirtioPciLayout.ISR_OFFSET && size == 1) {
                    return readIsr();
                }
                long dev = offset - VirtioPciLayout.DEVICE_OFFSET;
                if (dev >= 0 && dev + size <= device.configSize()) {
                    byte[] b = new byte[size];
                    device.readConfig((int) dev, b);
                    long v = 0;
                    for (int i = 0; i < size; i++) {
                        v |= (b[i] & 0xffL) << (8 * i);
                    }
                    return v;
                }
                long t = offset - VirtioPciLayout.MSIX_TABLE_OFFSET;
                if (t >= 0 && t < msix.tableBytes()) {
                    return msix.readTable(t, size);
                }
                long p = offset - VirtioPciLayout.MSIX_PBA_OFFSET;
                if (p >= 0 && p < msix.pbaBytes()) {
                    return msix.readPba(p, size);
                }
            } catch (RuntimeException | Error e) {
                LOG.error("{}: BAR read at 0x{} failed", name, Long.toHexString(offset), e);
            }
            return 0;
        }

        @Override
        public void write(long offset, int size, long value) {
            try {
                if (offset >= VirtioPciLayout.COMMON_OFFSET && offset + size <= VirtioPciLayout.COMMON_LENGTH) {
                    writeCommon((int) offset, size, value);
                    return;
                }
                long n = offset - VirtioPciLayout.NOTIFY_OFFSET;
                if (n >= 0 && n < (long) VirtioPciLayout.NOTIFY_MULTIPLIER * numQueues) {
                    // Only reached when ioeventfd is not bound: wake the I/O thread the same way.
                    kicks[(int) (n / VirtioPciLayout.NOTIFY_MULTIPLIER)].signal();
                    return;
                }
                long dev = offset - VirtioPciLayout.DEVICE_OFFSET;
                if (dev >= 0 && dev + size <= device.configSize()) {
                    byte[] b = new byte[size];
                    for (int i = 0; i < size; i++) {
                        b[i] = (byte) (value >>> (8 * i));
                    }
                    device.writeConfig((int) dev, b);
                    return;
                }
                long t = offset - VirtioPciLayout.MSIX_TABLE_OFFSET;
                if (t >= 0 && t < msix.tableBytes()) {
                    msix.writeTable(t, size, value);
                }
            } catch (RuntimeException | Error e) {
                LOG.error("{}: BAR write at 0x{} failed", name, Long.toHexString(offset), e);
            }
        }
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
            int vector;
            synchronized (cfgLock) {
                vector = queueCfg[index].msixVector;
            }
            signal(vector, ISR_QUEUE);
        }

        @Override
        public void configChanged() {
            int vector;
            synchronized (cfgLock) {
                configGeneration = (configGeneration + 1) & 0xff;
                vector = msixConfig;
                if ((status & DeviceStatus.DRIVER_OK) == 0) {
                    return;
                }
            }
            signal(vector, ISR_CONFIG);
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
            if (index >= 0 && index < numQueues) {
                kicks[index].signal();
            }
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

    /** Whether {@link #suspendIo} holds this function's I/O (a paused, captured VM's stays so until resume). */
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

    /** The function's whole state, the device's own nested in it; requires {@link #suspendIo} first. */
    @Override
    public VirtioPciState save() {
        deviceLock.lock();
        try {
            if (!suspended) {
                throw new IllegalStateException(name + ": suspend I/O before capturing state");
            }
            Record devState = device.save();
            int isrNow;
            synchronized (isrLock) {
                isrNow = isr;
            }
            synchronized (cfgLock) {
                List<VirtioPciState.Queue> qs = new ArrayList<>();
                for (int q = 0; q < numQueues; q++) {
                    QueueConfig c = queueCfg[q];
                    qs.add(new VirtioPciState.Queue(c.size, c.msixVector, c.enabled, c.desc, c.driver, c.device,
                            c.enabled ? queues[q].position() : null));
                }
                return new VirtioPciState(device.deviceType(), config.bytes(), msix.state(), deviceFeatureSelect,
                        driverFeatureSelect, driverFeatures, status, configGeneration, queueSelect, msixConfig, isrNow,
                        qs, devState);
            }
        } finally {
            deviceLock.unlock();
        }
    }

    /**
     * A function restored from a {@link #save}: the transport is built around {@code device}
     * (opened from its host resources) as the constructor does, then given {@code s}. A state
     * that does not fit is refused with a {@link DeviceMismatchException} naming the field, and
     * the new function is closed (closing {@code device}).
     */
    public static VirtioPciDevice restore(VirtioDevice device, GuestMemory memory, Bus mmio, MsiController msi,
            IrqLine intx, int intxGsi, NotifyRegistrar notifyRegistrar, VirtioPciState s) {
        return restore(device, memory, mmio, msi, intx, intxGsi, notifyRegistrar, NanoClock.SYSTEM, s);
    }

    /** As above, with the queue timers on {@code clock}. */
    public static VirtioPciDevice restore(VirtioDevice device, GuestMemory memory, Bus mmio, MsiController msi,
            IrqLine intx, int intxGsi, NotifyRegistrar notifyRegistrar, NanoClock clock, VirtioPciState s) {
        VirtioPciDevice d = new VirtioPciDevice(device, memory, mmio, msi, intx, intxGsi, notifyRegistrar, clock);
        try {
            d.load(s);
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
        return d;
    }

    /**
     * Applies a {@link #save} to this freshly created function (status 0, vCPUs not
     * running): PCI config space (which maps BAR 0 and binds the ioeventfds), MSI-X (which
     * re-programs the GSI routes behind the irqfds), the common configuration, queue rings at
     * their saved positions, and the device state after re-activating the device. Everything is
     * checked against this device first; a mismatch is a {@link DeviceMismatchException} naming
     * the field, and the function is then reset.
     */
    private void load(VirtioPciState s) {
        check(s.deviceType() == device.deviceType(), "device type " + s.deviceType() + ", this is " + device.deviceType());
        check(s.queues().size() == numQueues, s.queues().size() + " queues, this device has " + numQueues);
        check(s.msix().size() == msix.size(), s.msix().size() + " MSI-X vectors, this device has " + msix.size());
        check((s.driverFeatures() & ~offeredFeatures) == 0, "driver features 0x" + Long.toHexString(s.driverFeatures())
                + " include some this device does not offer (0x" + Long.toHexString(offeredFeatures) + ")");
        check(s.msixConfig() == NO_VECTOR || s.msixConfig() < msix.size(), "msix_config " + s.msixConfig() + " out of range");
        boolean driverOk = (s.status() & DeviceStatus.DRIVER_OK) != 0;
        boolean broken = (s.status() & (DeviceStatus.DEVICE_NEEDS_RESET | DeviceStatus.FAILED)) != 0;
        check(!driverOk || (s.status() & DeviceStatus.FEATURES_OK) != 0, "status DRIVER_OK without FEATURES_OK");
        check((s.status() & DeviceStatus.FEATURES_OK) == 0 || featuresAcceptable(s.driverFeatures()),
                "status FEATURES_OK with unacceptable features");
        for (int q = 0; q < numQueues; q++) {
            VirtioPciState.Queue c = s.queues().get(q);
            check(c.size() <= queues[q].maxSize(), "queue " + q + " size " + c.size() + " exceeds " + queues[q].maxSize());
            check(c.msixVector() == NO_VECTOR || c.msixVector() < msix.size(),
                    "queue " + q + " MSI-X vector " + c.msixVector() + " out of range");
        }
        try {
            config.restoreBytes(s.pciConfig());
            msix.restore(s.msix());
            deviceLock.lock();
            try {
                synchronized (cfgLock) {
                    deviceFeatureSelect = s.deviceFeatureSelect();
                    driverFeatureSelect = s.driverFeatureSelect();
                    driverFeatures = s.driverFeatures();
                    status = s.status();
                    configGeneration = s.configGeneration();
                    queueSelect = s.queueSelect();
                    msixConfig = s.msixConfig();
                }
                boolean eventIdx = VirtioFeatures.has(s.driverFeatures(), VirtioFeatures.RING_EVENT_IDX);
                boolean indirect = VirtioFeatures.has(s.driverFeatures(), VirtioFeatures.RING_INDIRECT_DESC);
                for (int q = 0; q < numQueues; q++) {
                    VirtioPciState.Queue c = s.queues().get(q);
                    QueueConfig qc = new QueueConfig();
                    qc.size = c.size();
                    qc.msixVector = c.msixVector();
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
                synchronized (isrLock) {
                    isr = s.isr();
                    updateIntx();
                }
                boolean active = driverOk && !broken;
                if (active) {
                    device.activate(context);
                    live = true;
                }
                device.restoreState(s.device(), active);
            } finally {
                deviceLock.unlock();
            }
        } catch (RuntimeException e) {
            reset();
            throw e instanceof DeviceMismatchException ? e : new DeviceMismatchException(name, e.getMessage(), e);
        }
        for (EventFd k : kicks) {
            k.signal();
        }
    }

    private void check(boolean ok, String what) {
        if (!ok) {
            throw new DeviceMismatchException(name, name + " state: " + what);
        }
    }

    // ---------------------------------------------------------------- teardown

    /** Stops the I/O thread, unmaps the BAR, releases eventfds and MSI vectors, closes the device. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        loop.close();
        synchronized (config) {
            unmapBar();
        }
        releaseResources();
        try {
            device.close();
        } catch (Exception e) {
            LOG.warn("{}: closing device failed: {}", name, e.toString());
        }
    }

    private void releaseResources() {
        for (EventFd k : kicks) {
            if (k != null) {
                k.close();
            }
        }
        vectors.forEach(MsiVector::close);
    }

    @Override
    public String toString() {
        return name;
    }
}
