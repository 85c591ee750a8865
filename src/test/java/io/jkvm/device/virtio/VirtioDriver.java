package io.jkvm.device.virtio;

import io.jkvm.device.Bus;
import io.jkvm.device.RecordingIrqLine;
import io.jkvm.device.msi.RecordingMsi;
import io.jkvm.device.pci.PciConfigSpace;
import io.jkvm.device.virtio.pci.NotifyRegistrar;
import io.jkvm.device.virtio.pci.VirtioPciDevice;
import io.jkvm.device.virtio.pci.VirtioPciLayout;
import io.jkvm.device.virtio.pci.VirtioPciState;
import io.jkvm.resources.NanoClock;

import java.time.Duration;
import java.util.function.BooleanSupplier;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A test "guest driver" for a {@link VirtioPciDevice}: programs the function through config
 * space and its BAR on an MMIO bus, like Linux's virtio_pci_modern would, with recording
 * MSI and INTx doubles.
 */
public final class VirtioDriver implements AutoCloseable {
    public static final long BAR = 0xd000_0000L;
    public static final int COMMON = VirtioPciLayout.COMMON_OFFSET;
    public static final Duration WAIT = Duration.ofSeconds(10);

    public final GuardedMemory gm;
    public final Bus mmio = new Bus("mmio");
    public final RecordingMsi msi = new RecordingMsi();
    public final RecordingIrqLine intx = new RecordingIrqLine();
    public final VirtioPciDevice dev;

    public VirtioDriver(VirtioDevice device) {
        this(device, NotifyRegistrar.NONE);
    }

    public VirtioDriver(VirtioDevice device, NotifyRegistrar notify) {
        this(device, notify, new GuardedMemory());
    }

    public VirtioDriver(VirtioDevice device, NotifyRegistrar notify, GuardedMemory memory) {
        this(device, notify, memory, null, NanoClock.SYSTEM);
    }

    /** A driver of a function whose queue timers run on {@code clock} (a test moves it by hand). */
    public VirtioDriver(VirtioDevice device, NanoClock clock) {
        this(device, NotifyRegistrar.NONE, new GuardedMemory(), null, clock);
    }

    private VirtioDriver(VirtioDevice device, NotifyRegistrar notify, GuardedMemory memory, VirtioPciState state,
            NanoClock clock) {
        gm = memory;
        if (state != null) {
            dev = VirtioPciDevice.restore(device, gm.memory, mmio, msi, intx, 11, notify, clock, state);
            return; // config space (BAR, command register) comes from the state
        }
        dev = new VirtioPciDevice(device, gm.memory, mmio, msi, intx, 11, notify, clock);
        dev.config().setBarAddress(VirtioPciLayout.BAR, BAR);
        dev.writeConfig(PciConfigSpace.COMMAND / 4, 0, 2, PciConfigSpace.COMMAND_MEMORY | PciConfigSpace.COMMAND_BUS_MASTER);
    }

    /** A driver of a function restored from {@code state} over {@code memory} ({@link VirtioPciDevice#restore}). */
    public static VirtioDriver restored(VirtioDevice device, GuardedMemory memory, VirtioPciState state) {
        return restored(device, memory, state, NanoClock.SYSTEM);
    }

    /** As above, with the queue timers on {@code clock}. */
    public static VirtioDriver restored(VirtioDevice device, GuardedMemory memory, VirtioPciState state, NanoClock clock) {
        return new VirtioDriver(device, NotifyRegistrar.NONE, memory, state, clock);
    }

    /** Waits until the device's I/O thread has gone round once (every kick so far and every due timer handled). */
    public void syncIo() {
        assertThat(dev.syncIo(WAIT)).as("I/O thread went round").isTrue();
    }

    /** A fresh guest memory holding a copy of this driver's. */
    public GuardedMemory copyOfMemory() {
        GuardedMemory copy = new GuardedMemory();
        for (io.jkvm.memory.GuestMemory.Region r : gm.memory.regions()) {
            copy.memory.write(r.guestAddress(), gm.memory.read(r.guestAddress(), (int) r.size()));
        }
        return copy;
    }

    public long read(long off, int size) {
        return mmio.read(BAR + off, size);
    }

    public void write(long off, int size, long value) {
        mmio.write(BAR + off, size, value);
    }

    public int status() {
        return (int) read(COMMON + 0x14, 1);
    }

    public void setStatus(int s) {
        write(COMMON + 0x14, 1, s);
    }

    public long deviceFeatures() {
        write(COMMON, 4, 0);
        long lo = read(COMMON + 4, 4);
        write(COMMON, 4, 1);
        long hi = read(COMMON + 4, 4);
        return lo | (hi << 32);
    }

    public void writeDriverFeatures(long f) {
        write(COMMON + 8, 4, 0);
        write(COMMON + 0xc, 4, f & 0xffff_ffffL);
        write(COMMON + 8, 4, 1);
        write(COMMON + 0xc, 4, f >>> 32);
    }

    /** §3.1.1 steps 1-6; returns whether the device accepted FEATURES_OK. */
    public boolean negotiate(long features) {
        setStatus(0);
        setStatus(DeviceStatus.ACKNOWLEDGE);
        setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER);
        writeDriverFeatures(features);
        setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK);
        return (status() & DeviceStatus.FEATURES_OK) != 0;
    }

    /** Queue setup (§4.1.5.1.3); rings at {@code base} in guest memory. */
    public DriverQueue setupQueue(int q, long base, int size, int vector) {
        return setupQueue(q, new DriverQueue(gm.memory, base, size), vector);
    }

    /** Queue setup with the rings where {@code dq} has them. */
    public DriverQueue setupQueue(int q, DriverQueue dq, int vector) {
        int size = dq.size;
        write(COMMON + 0x16, 2, q);
        write(COMMON + 0x18, 2, size);
        write(COMMON + 0x1a, 2, vector);
        write(COMMON + 0x20, 8, dq.desc);
        write(COMMON + 0x28, 4, dq.avail);
        write(COMMON + 0x2c, 4, 0);
        write(COMMON + 0x30, 8, dq.used);
        write(COMMON + 0x1c, 2, 1);
        return dq;
    }

    public void driverOk() {
        setStatus(status() | DeviceStatus.DRIVER_OK);
        assertThat(status() & DeviceStatus.DRIVER_OK).as("DRIVER_OK accepted").isNotZero();
    }

    public void kick(int q) {
        write(VirtioPciLayout.NOTIFY_OFFSET + 4L * q, 2, q);
    }

    /** Offset of the MSI-X capability found by walking the capability list. */
    public int msixCap() {
        int p = dev.config().read(PciConfigSpace.CAPABILITIES_POINTER, 1);
        while (p != 0) {
            if (dev.config().read(p, 1) == VirtioPciLayout.CAP_ID_MSIX) {
                return p;
            }
            p = dev.config().read(p + 1, 1);
        }
        throw new AssertionError("no MSI-X capability");
    }

    /** Enables MSI-X; vector v gets address 0xFEE00000, data 0x40 + v, unmasked. */
    public void enableMsix() {
        int cap = msixCap();
        for (int v = 0; v < dev.msix().size(); v++) {
            long e = VirtioPciLayout.MSIX_TABLE_OFFSET + 16L * v;
            write(e, 4, 0xfee0_0000L);
            write(e + 4, 4, 0);
            write(e + 8, 4, 0x40 + v);
            write(e + 12, 4, 0);
        }
        writeMsixControl(cap, 0x8000);
    }

    public void writeMsixControl(int cap, int value) {
        dev.writeConfig((cap + 2) / 4, (cap + 2) % 4, 2, value);
    }

    /** Polls until {@code cond} holds (the device works on its own thread); fails on timeout. */
    public static void await(String what, BooleanSupplier cond) {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!cond.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            java.util.concurrent.locks.LockSupport.parkNanos(200_000); // back off between polls
        }
    }

    public void awaitUsed(DriverQueue dq, int idx) {
        await("used idx " + idx, () -> dq.usedIdx() == idx);
    }

    @Override
    public void close() {
        dev.close();
        gm.assertGuardsIntact();
        gm.close();
    }
}
