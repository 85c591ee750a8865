package io.jkvm.device.virtio.mmio;

import io.jkvm.device.Bus;
import io.jkvm.device.BusDevice;
import io.jkvm.device.IrqLine;
import io.jkvm.device.virtio.DeviceStatus;
import io.jkvm.device.virtio.VirtioContext;
import io.jkvm.device.virtio.VirtioCoreState;
import io.jkvm.device.virtio.VirtioDevice;
import io.jkvm.device.virtio.VirtioTransportDevice;
import io.jkvm.device.virtio.VirtioInterrupts;
import io.jkvm.device.virtio.VirtioTransportCore;
import io.jkvm.device.virtio.VirtioTransportCore.Area;
import io.jkvm.device.virtio.pci.NotifyRegistrar;
import io.jkvm.memory.GuestMemory;
import io.jkvm.resources.NanoClock;
import io.jkvm.snapshot.DeviceMismatchException;
import io.jkvm.snapshot.Persist;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * The virtio-mmio transport, version 2 (virtio 1.2 §4.2), around a {@link VirtioDevice}: a
 * 4 KiB register window ({@link VirtioMmioLayout}) on the MMIO bus at a fixed base, with no
 * discovery protocol of its own: the guest finds it through the kernel command line
 * ({@code virtio_mmio.device=4K@base:irq}, as Firecracker guests do) or through the DSDT
 * (an LNRO0005 device, as stock distribution kernels do; see io.jkvm.arch.x86.acpi.Dsdt).
 *
 * <p><b>Interrupts</b> (§4.2.2): one level-triggered line. A used buffer sets InterruptStatus
 * bit 0, a configuration change bit 1; the line is high while any bit is set and the driver
 * clears bits by writing them to InterruptACK.
 *
 * <p><b>Kicks</b>: every queue notifies through the one QueueNotify register, writing its
 * index; with ioeventfd each queue's eventfd is bound to that address with a data match on its
 * index, otherwise the write handler signals the eventfd. Either way the device runs on the
 * I/O thread of the {@link VirtioTransportCore}, which holds everything not specific to MMIO.
 *
 * <p><b>A hostile driver</b>: a control register access that is not 32 bits wide and aligned
 * (§4.2.2.2), or one at an offset that is no register, is ignored (reads as all ones) and logged
 * once per device. Writes the current status forbids are ignored: driver features only between
 * DRIVER and FEATURES_OK, queue registers only between FEATURES_OK and DRIVER_OK and never on
 * an enabled queue (as Firecracker does: Linux's virtio_mmio follows §3.1.1). A QueueNum larger
 * than QueueNumMax or not a power of two is not taken (a split ring's size is a power of two,
 * §2.7). Bad rings at QueueReady, a corrupt queue or a device failure set DEVICE_NEEDS_RESET
 * in the core, as on PCI. Nothing a guest does raises an exception out of a bus access.
 */
public final class VirtioMmioDevice implements BusDevice, VirtioTransportDevice, Persist<VirtioMmioState> {
    private static final Logger LOG = LoggerFactory.getLogger(VirtioMmioDevice.class);

    /** Reported in VendorID: the PCI-SIG vendor ID virtio devices use (§4.1.2). */
    public static final int VENDOR_ID = 0x1af4;

    private final VirtioDevice device;
    private final String name;
    private final long base;
    private final IrqLine irq;
    private final VirtioTransportCore core;
    private final Bus.Registration registration;
    private final List<NotifyRegistrar.Binding> bindings = new ArrayList<>();
    private final AtomicBoolean warned = new AtomicBoolean();
    private final Object irqLock = new Object();
    // irqLock
    private int interruptStatus;
    private boolean lineHigh;
    private boolean closed;

    /**
     * Maps the device's window at {@code base} on {@code mmio} and binds its queue notifications.
     *
     * @param irq the device's interrupt line (a level-triggered IOAPIC GSI)
     */
    public VirtioMmioDevice(VirtioDevice device, GuestMemory memory, Bus mmio, long base, IrqLine irq,
            NotifyRegistrar notifyRegistrar) {
        this(device, memory, mmio, base, irq, notifyRegistrar, NanoClock.SYSTEM);
    }

    /** As above, with the queue timers ({@link VirtioContext#kickAfter}) on {@code clock}. */
    public VirtioMmioDevice(VirtioDevice device, GuestMemory memory, Bus mmio, long base, IrqLine irq,
            NotifyRegistrar notifyRegistrar, NanoClock clock) {
        this.device = Objects.requireNonNull(device, "device");
        this.irq = Objects.requireNonNull(irq, "irq");
        Objects.requireNonNull(mmio, "mmio");
        if ((base & (VirtioMmioLayout.WINDOW - 1)) != 0 || base < 0) {
            throw new IllegalArgumentException("virtio-mmio base 0x" + Long.toHexString(base) + " is not 4 KiB aligned");
        }
        if (device.configSize() > VirtioMmioLayout.CONFIG_MAX) {
            throw new IllegalArgumentException("device config too large: " + device.configSize());
        }
        this.base = base;
        this.name = "virtio-mmio-" + device.deviceType() + "@" + Long.toHexString(base);
        core = new VirtioTransportCore(device, memory, new Interrupts(), clock, name, VirtioMmioLayout.MAX_QUEUES);
        try {
            registration = mmio.register(base, VirtioMmioLayout.WINDOW, this);
        } catch (RuntimeException e) {
            core.closeKicks();
            throw e;
        }
        NotifyRegistrar notify = notifyRegistrar == null ? NotifyRegistrar.NONE : notifyRegistrar;
        for (int q = 0; q < core.numQueues(); q++) {
            NotifyRegistrar.Binding b = notify.bind(base + VirtioMmioLayout.QUEUE_NOTIFY, 4, q, core.kickFd(q));
            if (b != null) {
                bindings.add(b);
            }
        }
        core.start();
    }

    public VirtioDevice device() {
        return device;
    }

    public long base() {
        return base;
    }

    /** Current Status (diagnostics and tests). */
    public int status() {
        return core.status();
    }

    /** Whether the interrupt line is high (tests). */
    public boolean interruptAsserted() {
        synchronized (irqLock) {
            return lineHigh;
        }
    }

    /** Waits for the I/O thread to go round once; false if it did not within {@code timeout}. */
    public boolean syncIo(java.time.Duration timeout) {
        return core.syncIo(timeout);
    }

    /** The Linux command-line parameter that declares this device (drivers/virtio/virtio_mmio.c, "device="). */
    public String kernelParameter(int gsi) {
        return VirtioMmioLayout.kernelParameter(base, gsi);
    }

    // ---------------------------------------------------------------- register file (§4.2.2)

    @Override
    public long read(long offset, int size) {
        try {
            if (offset >= VirtioMmioLayout.CONFIG) {
                if (configAccessOk(offset, size)) {
                    return core.readDeviceConfig((int) (offset - VirtioMmioLayout.CONFIG), size);
                }
                return badAccess("read", offset, size);
            }
            if (size != 4 || (offset & 3) != 0) {
                return badAccess("read", offset, size);
            }
            return switch ((int) offset) {
                case VirtioMmioLayout.MAGIC_VALUE -> VirtioMmioLayout.MAGIC & 0xffff_ffffL;
                case VirtioMmioLayout.VERSION_REG -> VirtioMmioLayout.VERSION;
                case VirtioMmioLayout.DEVICE_ID -> device.deviceType();
                case VirtioMmioLayout.VENDOR_ID -> VENDOR_ID;
                case VirtioMmioLayout.DEVICE_FEATURES -> core.deviceFeaturesWord() & 0xffff_ffffL;
                case VirtioMmioLayout.QUEUE_NUM_MAX -> core.selectedQueueMaxSize();
                case VirtioMmioLayout.QUEUE_READY -> core.selectedQueueEnabled() ? 1 : 0;
                case VirtioMmioLayout.INTERRUPT_STATUS -> {
                    synchronized (irqLock) {
                        yield interruptStatus;
                    }
                }
                case VirtioMmioLayout.STATUS -> core.status();
                // No shared memory regions (§4.2.2): a length of all ones says "none" to Linux.
                case VirtioMmioLayout.SHM_LEN_LOW, VirtioMmioLayout.SHM_LEN_HIGH, VirtioMmioLayout.SHM_BASE_LOW,
                        VirtioMmioLayout.SHM_BASE_HIGH -> 0xffff_ffffL;
                case VirtioMmioLayout.CONFIG_GENERATION -> core.configGeneration();
                default -> badAccess("read", offset, size);
            };
        } catch (RuntimeException | Error e) {
            LOG.error("{}: read at 0x{} failed", name, Long.toHexString(offset), e);
            return Bus.sizeMask(size);
        }
    }

    @Override
    public void write(long offset, int size, long value) {
        try {
            if (offset >= VirtioMmioLayout.CONFIG) {
                if (configAccessOk(offset, size)) {
                    core.writeDeviceConfig((int) (offset - VirtioMmioLayout.CONFIG), size, value);
                } else {
                    badAccess("write", offset, size);
                }
                return;
            }
            if (size != 4 || (offset & 3) != 0) {
                badAccess("write", offset, size);
                return;
            }
            int v = (int) value;
            switch ((int) offset) {
                case VirtioMmioLayout.DEVICE_FEATURES_SEL -> core.setDeviceFeatureSelect(v);
                case VirtioMmioLayout.DRIVER_FEATURES -> {
                    if (statusAllows(DeviceStatus.DRIVER, DeviceStatus.FEATURES_OK)) {
                        core.writeDriverFeaturesWord(v);
                    }
                }
                case VirtioMmioLayout.DRIVER_FEATURES_SEL -> core.setDriverFeatureSelect(v);
                // QueueSel is 32 bits; anything past 0xffff names no queue either way.
                case VirtioMmioLayout.QUEUE_SEL -> core.setQueueSelect(Integer.compareUnsigned(v, 0xffff) > 0 ? 0xffff : v);
                case VirtioMmioLayout.QUEUE_NUM -> {
                    if (queueWritable() && !core.setSelectedQueueSize(v)) {
                        warnOnce("QueueNum " + Integer.toUnsignedString(v) + " refused: not a power of two up to QueueNumMax "
                                + core.selectedQueueMaxSize());
                    }
                }
                case VirtioMmioLayout.QUEUE_READY -> {
                    if (queueWritable() || (v == 0 && (core.status() & DeviceStatus.DRIVER_OK) == 0)) {
                        if (v == 1) {
                            core.enableSelectedQueue(true);
                        } else if (v == 0) {
                            core.disableSelectedQueue();
                        }
                    }
                }
                case VirtioMmioLayout.QUEUE_NOTIFY -> core.notifyQueue(v); // only without a matching ioeventfd
                case VirtioMmioLayout.INTERRUPT_ACK -> acknowledge(v);
                case VirtioMmioLayout.STATUS -> core.writeStatus(v & 0xff);
                case VirtioMmioLayout.QUEUE_DESC_LOW, VirtioMmioLayout.QUEUE_DESC_HIGH -> queueAddress(Area.DESC, offset, v);
                case VirtioMmioLayout.QUEUE_DRIVER_LOW, VirtioMmioLayout.QUEUE_DRIVER_HIGH -> queueAddress(Area.DRIVER, offset, v);
                case VirtioMmioLayout.QUEUE_DEVICE_LOW, VirtioMmioLayout.QUEUE_DEVICE_HIGH -> queueAddress(Area.DEVICE, offset, v);
                case VirtioMmioLayout.SHM_SEL -> { } // no regions to select
                default -> badAccess("write", offset, size);
            }
        } catch (RuntimeException | Error e) {
            LOG.error("{}: write at 0x{} failed", name, Long.toHexString(offset), e);
        }
    }

    /** §4.2.2.2: device configuration fields are read at their own width (1, 2 or 4 bytes), aligned. */
    private boolean configAccessOk(long offset, int size) {
        return (size == 1 || size == 2 || size == 4) && (offset & (size - 1)) == 0;
    }

    /** Whether the status has all of {@code required} and none of {@code forbidden}, nor a failure. */
    private boolean statusAllows(int required, int forbidden) {
        int s = core.status();
        return (s & required) == required
                && (s & (forbidden | DeviceStatus.FAILED | DeviceStatus.DEVICE_NEEDS_RESET)) == 0;
    }

    /** Queues are set up after FEATURES_OK and before DRIVER_OK (§3.1.1 steps 6-8). */
    private boolean queueWritable() {
        return statusAllows(DeviceStatus.FEATURES_OK, DeviceStatus.DRIVER_OK);
    }

    private void queueAddress(Area area, long offset, int v) {
        if (queueWritable()) {
            core.setSelectedQueueAddressHalf(area, (offset & 4) != 0, v);
        }
    }

    private long badAccess(String what, long offset, int size) {
        warnOnce(size + "-byte " + what + " at 0x" + Long.toHexString(offset) + " is no register access (§4.2.2.2)");
        return Bus.sizeMask(size);
    }

    /** A driver doing what the spec forbids is logged once per device, not per access. */
    private void warnOnce(String what) {
        if (warned.compareAndSet(false, true)) {
            LOG.warn("{}: ignored: {} (further ones not logged)", name, what);
        } else {
            LOG.debug("{}: ignored: {}", name, what);
        }
    }

    // ---------------------------------------------------------------- interrupts

    private void acknowledge(int bits) {
        synchronized (irqLock) {
            interruptStatus &= ~bits;
            updateLine();
        }
    }

    private void raise(int bit) {
        synchronized (irqLock) {
            interruptStatus |= bit;
            updateLine();
        }
    }

    /** The line follows InterruptStatus: high while an event is unacknowledged. */
    private void updateLine() {
        boolean high = interruptStatus != 0;
        if (high != lineHigh) {
            lineHigh = high;
            irq.setLevel(high);
        }
    }

    private final class Interrupts implements VirtioInterrupts {
        @Override
        public void signalQueue(int queue) {
            raise(VirtioMmioLayout.INT_VRING);
        }

        @Override
        public void signalConfigChange() {
            raise(VirtioMmioLayout.INT_CONFIG);
        }

        /** §4.2.2.1: reset clears InterruptStatus. */
        @Override
        public void reset() {
            synchronized (irqLock) {
                interruptStatus = 0;
                updateLine();
            }
        }
    }

    // ---------------------------------------------------------------- snapshots

    @Override
    public VirtioTransportCore core() {
        return core;
    }

    /** The device's whole guest-visible state; requires {@link #suspendIo} first. */
    @Override
    public VirtioMmioState save() {
        VirtioCoreState c = core.save();
        int is;
        synchronized (irqLock) {
            is = interruptStatus;
        }
        return VirtioMmioState.of(c, is);
    }

    /**
     * A device restored from a {@link #save}, built around {@code device} as the constructor
     * does. A state that does not fit is refused with a {@link DeviceMismatchException} naming
     * the field, and the new device is closed (closing {@code device}).
     */
    public static VirtioMmioDevice restore(VirtioDevice device, GuestMemory memory, Bus mmio, long base, IrqLine irq,
            NotifyRegistrar notifyRegistrar, NanoClock clock, VirtioMmioState s) {
        VirtioMmioDevice d = new VirtioMmioDevice(device, memory, mmio, base, irq, notifyRegistrar, clock);
        try {
            d.load(s);
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
        return d;
    }

    private void load(VirtioMmioState s) {
        VirtioCoreState c = s.core();
        core.check(c);
        try {
            core.apply(c, () -> {
                synchronized (irqLock) {
                    interruptStatus = s.interruptStatus();
                    updateLine();
                }
            });
        } catch (RuntimeException e) {
            core.reset();
            throw e instanceof DeviceMismatchException ? e : new DeviceMismatchException(name, e.getMessage(), e);
        }
    }

    // ---------------------------------------------------------------- teardown

    /** Stops the I/O thread, unbinds the notify eventfds, unmaps the window, closes the device. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        core.stopLoop();
        bindings.forEach(NotifyRegistrar.Binding::close);
        bindings.clear();
        registration.unregister();
        synchronized (irqLock) {
            if (lineHigh) {
                lineHigh = false;
                irq.setLevel(false);
            }
        }
        core.close();
    }

    @Override
    public String toString() {
        return name;
    }
}
