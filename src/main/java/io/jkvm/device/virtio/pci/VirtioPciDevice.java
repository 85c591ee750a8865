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
import io.jkvm.device.virtio.VirtioContext;
import io.jkvm.device.virtio.VirtioCoreState;
import io.jkvm.device.virtio.VirtioDevice;
import io.jkvm.device.virtio.VirtioTransportDevice;
import io.jkvm.device.virtio.VirtioInterrupts;
import io.jkvm.device.virtio.VirtioTransportCore;
import io.jkvm.memory.GuestMemory;
import io.jkvm.resources.NanoClock;
import io.jkvm.snapshot.DeviceMismatchException;
import io.jkvm.snapshot.Persist;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

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
 * <p>Everything that is not PCI (status machine, features, queues, the I/O thread, the device
 * context, suspend/resume and most of the state) lives in {@link VirtioTransportCore}; this
 * class decodes the BAR registers into calls on it, binds the notify addresses with ioeventfd
 * (queue q at +4q, so no data match is needed) and delivers the core's interrupts.
 *
 * <p><b>Locks</b>: the core's locks come first; {@code vectorLock} (msix_config, queue vectors)
 * and {@code isrLock} are leaves. Config-space hooks run under the config space lock and only
 * touch the MSI-X table. Nothing a guest does raises an exception out of a bus or config access.
 */
public final class VirtioPciDevice implements PciDevice, VirtioTransportDevice, Persist<VirtioPciState> {
    private static final Logger LOG = LoggerFactory.getLogger(VirtioPciDevice.class);

    public static final int VENDOR_ID = 0x1af4;
    public static final int DEVICE_ID_BASE = 0x1040;
    public static final int NO_VECTOR = 0xffff;
    public static final int ISR_QUEUE = 1;
    public static final int ISR_CONFIG = 2;

    private final VirtioDevice device;
    private final String name;
    private final IrqLine intx;
    private final NotifyRegistrar notifyRegistrar;
    private final Bus mmio;
    private final PciConfigSpace config;
    private final int msixCap;
    private final int pciCfgCap;
    private final int numQueues;
    private final VirtioTransportCore core;
    private final List<MsiVector> vectors = new ArrayList<>();
    private final MsixTable msix;
    private final BarDevice bar = new BarDevice();

    private final Object vectorLock = new Object();
    private final Object isrLock = new Object();

    // vectorLock
    private int msixConfig = NO_VECTOR;
    private final int[] queueVectors;
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
        Objects.requireNonNull(memory, "memory");
        this.mmio = Objects.requireNonNull(mmio, "mmio");
        this.intx = intx;
        this.notifyRegistrar = notifyRegistrar == null ? NotifyRegistrar.NONE : notifyRegistrar;
        this.name = "virtio-" + device.deviceType();
        if (device.configSize() > VirtioPciLayout.DEVICE_LENGTH) {
            throw new IllegalArgumentException("device config too large: " + device.configSize());
        }
        core = new VirtioTransportCore(device, memory, new Interrupts(), clock, name, VirtioPciLayout.MAX_QUEUES);
        this.numQueues = core.numQueues();
        queueVectors = new int[numQueues];
        java.util.Arrays.fill(queueVectors, NO_VECTOR);

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

        try {
            for (int v = 0; v < numQueues + 1; v++) {
                vectors.add(msi.allocate());
            }
        } catch (RuntimeException e) {
            core.closeKicks();
            vectors.forEach(MsiVector::close);
            throw e;
        }
        msix = new MsixTable(vectors);
        msixCap = VirtioPciLayout.addMsixCap(config, msix.size());
        config.setWriteHook(this::afterConfigWrite);
        config.setBarRemapListener(this::onBarRemap);
        core.start();
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
        return core.status();
    }

    /** Negotiated features once FEATURES_OK is set, else what the driver wrote so far. */
    public long driverFeatures() {
        return core.driverFeatures();
    }

    public long offeredFeatures() {
        return core.offeredFeatures();
    }

    /**
     * The device's I/O thread as diagnostics see it: its id (for its CPU time and allocations),
     * how often its poll loop woke up, how many of the device's own descriptors (a TAP,
     * console input; not the queue kicks) it polls now, how many queue timers are armed and how
     * many have fallen due so far ({@link VirtioContext#kickAfter}).
     */
    public record IoStats(long threadId, long loopIterations, int armedWatches, int armedTimers, long timerRuns) {}

    /** Waits for the I/O thread to go round once ({@link io.jkvm.device.virtio.EventLoop#sync}); false if it did not within {@code timeout}. */
    public boolean syncIo(java.time.Duration timeout) {
        return core.syncIo(timeout);
    }

    public IoStats ioStats() {
        VirtioTransportCore.IoThreadStats s = core.ioStats();
        return new IoStats(s.threadId(), s.loopIterations(), s.armedWatches(), s.armedTimers(), s.timerRuns());
    }

    /** Chains rejected for bad buffers across all queues. */
    public long rejectedChains() {
        return core.rejectedChains();
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
                    + (long) VirtioPciLayout.NOTIFY_MULTIPLIER * q, 2, core.kickFd(q));
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
        core.reset();
    }

    // ---------------------------------------------------------------- interrupts

    /** The core's interrupts: MSI-X vector if enabled and programmed, else ISR bit and INTx. */
    private final class Interrupts implements VirtioInterrupts {
        @Override
        public void signalQueue(int queue) {
            int vector;
            synchronized (vectorLock) {
                vector = queueVectors[queue];
            }
            signal(vector, ISR_QUEUE);
        }

        @Override
        public void signalConfigChange() {
            int vector;
            synchronized (vectorLock) {
                vector = msixConfig;
            }
            signal(vector, ISR_CONFIG);
        }

        @Override
        public void reset() {
            synchronized (vectorLock) {
                msixConfig = NO_VECTOR;
                java.util.Arrays.fill(queueVectors, NO_VECTOR);
            }
            synchronized (isrLock) {
                isr = 0;
                updateIntx();
            }
        }
    }

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

    // ---------------------------------------------------------------- common configuration (§4.1.4.3)

    private long readCommon(int offset, int size) {
        ByteBuffer b = ByteBuffer.allocate(VirtioPciLayout.COMMON_LENGTH + 8).order(ByteOrder.LITTLE_ENDIAN);
        int qs = core.queueSelect();
        b.putInt(0x00, core.deviceFeatureSelect());
        b.putInt(0x04, core.deviceFeaturesWord());
        b.putInt(0x08, core.driverFeatureSelect());
        b.putInt(0x0c, core.driverFeaturesWord());
        synchronized (vectorLock) {
            b.putShort(0x10, (short) msixConfig);
        }
        b.putShort(0x12, (short) numQueues);
        b.put(0x14, (byte) core.status());
        b.put(0x15, (byte) core.configGeneration());
        b.putShort(0x16, (short) qs);
        if (qs < numQueues) {
            b.putShort(0x18, (short) core.selectedQueueSize());
            synchronized (vectorLock) {
                b.putShort(0x1a, (short) queueVectors[qs]);
            }
            b.putShort(0x1c, (short) (core.selectedQueueEnabled() ? 1 : 0));
            b.putShort(0x1e, (short) qs); // queue_notify_off: queue q notifies at +4q
            b.putLong(0x20, core.selectedQueueAddress(VirtioTransportCore.Area.DESC));
            b.putLong(0x28, core.selectedQueueAddress(VirtioTransportCore.Area.DRIVER));
            b.putLong(0x30, core.selectedQueueAddress(VirtioTransportCore.Area.DEVICE));
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
            case 0x00 -> { if (size == 4) { core.setDeviceFeatureSelect(v32); } }
            case 0x08 -> { if (size == 4) { core.setDriverFeatureSelect(v32); } }
            case 0x0c -> { if (size == 4) { core.writeDriverFeaturesWord(v32); } }
            case 0x10 -> { if (size == 2) { synchronized (vectorLock) { msixConfig = vectorOrNone(v32); } } }
            case 0x14 -> { if (size == 1) { core.writeStatus(v32 & 0xff); } }
            case 0x16 -> { if (size == 2) { core.setQueueSelect(v32 & 0xffff); } }
            case 0x18 -> { if (size == 2) { core.setSelectedQueueSize(v32 & 0xffff); } }
            case 0x1a -> { if (size == 2) { writeQueueVector(v32); } }
            case 0x1c -> { if (size == 2 && (v32 & 0xffff) == 1) { core.enableSelectedQueue(); } }
            case 0x20, 0x24, 0x28, 0x2c, 0x30, 0x34 -> writeQueueAddress(offset, size, value);
            default -> { }
        }
    }

    /** The queue's MSI-X vector may change while it is enabled; sizes and addresses may not (§4.1.4.3.2). */
    private void writeQueueVector(int v) {
        int q = core.queueSelect();
        if (q < numQueues) {
            synchronized (vectorLock) {
                queueVectors[q] = vectorOrNone(v);
            }
        }
    }

    private int vectorOrNone(int v) {
        v &= 0xffff;
        // §4.1.5.1.2: a vector the device cannot use reads back as NO_VECTOR.
        return v < msix.size() ? v : NO_VECTOR;
    }

    private void writeQueueAddress(int offset, int size, long value) {
        VirtioTransportCore.Area area = VirtioTransportCore.Area.values()[(offset - 0x20) / 8];
        if (size == 8 && offset % 8 == 0) {
            core.setSelectedQueueAddress(area, value);
        } else if (size == 4) {
            core.setSelectedQueueAddressHalf(area, offset % 8 == 4, (int) value);
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
                    return core.readDeviceConfig((int) dev, size);
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
                    core.notifyQueue((int) (n / VirtioPciLayout.NOTIFY_MULTIPLIER));
                    return;
                }
                long dev = offset - VirtioPciLayout.DEVICE_OFFSET;
                if (dev >= 0 && dev + size <= device.configSize()) {
                    core.writeDeviceConfig((int) dev, size, value);
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

    // ---------------------------------------------------------------- snapshots

    @Override
    public VirtioTransportCore core() {
        return core;
    }

    /** The function's whole state, the device's own nested in it; requires {@link #suspendIo} first. */
    @Override
    public VirtioPciState save() {
        VirtioCoreState c = core.save();
        int isrNow;
        synchronized (isrLock) {
            isrNow = isr;
        }
        synchronized (vectorLock) {
            List<VirtioPciState.Queue> qs = new ArrayList<>();
            for (int q = 0; q < numQueues; q++) {
                VirtioCoreState.Queue cq = c.queues().get(q);
                qs.add(new VirtioPciState.Queue(cq.size(), queueVectors[q], cq.enabled(), cq.desc(), cq.driver(),
                        cq.device(), cq.position()));
            }
            return new VirtioPciState(c.deviceType(), config.bytes(), msix.state(), c.deviceFeatureSelect(),
                    c.driverFeatureSelect(), c.driverFeatures(), c.status(), c.configGeneration(), c.queueSelect(),
                    msixConfig, isrNow, qs, c.device());
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

    /** The transport-independent part of a saved function. */
    private static VirtioCoreState coreState(VirtioPciState s) {
        List<VirtioCoreState.Queue> qs = new ArrayList<>();
        for (VirtioPciState.Queue q : s.queues()) {
            qs.add(new VirtioCoreState.Queue(q.size(), q.enabled(), q.desc(), q.driver(), q.device(), q.position()));
        }
        return new VirtioCoreState(s.deviceType(), s.deviceFeatureSelect(), s.driverFeatureSelect(), s.driverFeatures(),
                s.status(), s.configGeneration(), s.queueSelect(), qs, s.device());
    }

    /**
     * Applies a {@link #save} to this freshly created function (status 0, vCPUs not
     * running): PCI config space (which maps BAR 0 and binds the ioeventfds), MSI-X (which
     * re-programs the GSI routes behind the irqfds), then the core (registers, queue rings at
     * their saved positions, the device state after re-activating the device) with the vectors
     * and ISR. Everything is checked against this device first; a mismatch is a
     * {@link DeviceMismatchException} naming the field, and the function is then reset.
     */
    private void load(VirtioPciState s) {
        VirtioCoreState c = coreState(s);
        core.check(c);
        core.check(s.msix().size() == msix.size(), s.msix().size() + " MSI-X vectors, this device has " + msix.size());
        core.check(s.msixConfig() == NO_VECTOR || s.msixConfig() < msix.size(),
                "msix_config " + s.msixConfig() + " out of range");
        for (int q = 0; q < numQueues; q++) {
            int v = s.queues().get(q).msixVector();
            core.check(v == NO_VECTOR || v < msix.size(), "queue " + q + " MSI-X vector " + v + " out of range");
        }
        try {
            config.restoreBytes(s.pciConfig());
            msix.restore(s.msix());
            core.apply(c, () -> {
                synchronized (vectorLock) {
                    msixConfig = s.msixConfig();
                    for (int q = 0; q < numQueues; q++) {
                        queueVectors[q] = s.queues().get(q).msixVector();
                    }
                }
                synchronized (isrLock) {
                    isr = s.isr();
                    updateIntx();
                }
            });
        } catch (RuntimeException e) {
            reset();
            throw e instanceof DeviceMismatchException ? e : new DeviceMismatchException(name, e.getMessage(), e);
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
        core.stopLoop();
        synchronized (config) {
            unmapBar();
        }
        vectors.forEach(MsiVector::close);
        core.close();
    }

    @Override
    public String toString() {
        return name;
    }
}
