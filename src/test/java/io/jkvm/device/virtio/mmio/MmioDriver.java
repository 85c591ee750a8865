package io.jkvm.device.virtio.mmio;

import io.jkvm.device.Bus;
import io.jkvm.device.RecordingIrqLine;
import io.jkvm.device.virtio.DeviceStatus;
import io.jkvm.device.virtio.DriverQueue;
import io.jkvm.device.virtio.GuardedMemory;
import io.jkvm.device.virtio.VirtioDevice;
import io.jkvm.device.virtio.pci.NotifyRegistrar;
import io.jkvm.resources.NanoClock;

import java.time.Duration;

import static io.jkvm.device.virtio.mmio.VirtioMmioLayout.*;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * A test "guest driver" for a {@link VirtioMmioDevice}: 32-bit register accesses on an MMIO
 * bus in the order Linux's virtio_mmio.c (version 2) uses, with a recording interrupt line.
 */
final class MmioDriver implements AutoCloseable {
    static final long BASE = 0xd000_0000L;
    static final Duration WAIT = Duration.ofSeconds(10);

    final GuardedMemory gm;
    final Bus mmio = new Bus("mmio");
    final RecordingIrqLine irq = new RecordingIrqLine();
    final VirtioMmioDevice dev;

    MmioDriver(VirtioDevice device) {
        gm = new GuardedMemory();
        dev = new VirtioMmioDevice(device, gm.memory, mmio, BASE, irq, NotifyRegistrar.NONE);
    }

    private MmioDriver(VirtioDevice device, GuardedMemory memory, VirtioMmioState state) {
        gm = memory;
        dev = VirtioMmioDevice.restore(device, gm.memory, mmio, BASE, irq, NotifyRegistrar.NONE, NanoClock.SYSTEM, state);
    }

    static MmioDriver restored(VirtioDevice device, GuardedMemory memory, VirtioMmioState state) {
        return new MmioDriver(device, memory, state);
    }

    long read(int reg) {
        return mmio.read(BASE + reg, 4);
    }

    void write(int reg, long value) {
        mmio.write(BASE + reg, 4, value);
    }

    int status() {
        return (int) read(STATUS);
    }

    void setStatus(int s) {
        write(STATUS, s);
    }

    long deviceFeatures() {
        write(DEVICE_FEATURES_SEL, 0);
        long lo = read(DEVICE_FEATURES);
        write(DEVICE_FEATURES_SEL, 1);
        return lo | (read(DEVICE_FEATURES) << 32);
    }

    void writeDriverFeatures(long f) {
        write(DRIVER_FEATURES_SEL, 0);
        write(DRIVER_FEATURES, f & 0xffff_ffffL);
        write(DRIVER_FEATURES_SEL, 1);
        write(DRIVER_FEATURES, f >>> 32);
    }

    /** §3.1.1 steps 1-6; returns whether the device kept FEATURES_OK. */
    boolean negotiate(long features) {
        setStatus(0);
        setStatus(DeviceStatus.ACKNOWLEDGE);
        setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER);
        writeDriverFeatures(features);
        setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK);
        return (status() & DeviceStatus.FEATURES_OK) != 0;
    }

    /** §4.2.3.2 virtqueue configuration, as vm_setup_vq does it. */
    DriverQueue setupQueue(int q, long base, int size) {
        DriverQueue dq = new DriverQueue(gm.memory, base, size);
        write(QUEUE_SEL, q);
        assertThat(read(QUEUE_READY)).as("queue %d not yet in use", q).isZero();
        assertThat(read(QUEUE_NUM_MAX)).as("queue %d exists", q).isGreaterThanOrEqualTo(size);
        write(QUEUE_NUM, size);
        write(QUEUE_DESC_LOW, dq.desc & 0xffff_ffffL);
        write(QUEUE_DESC_HIGH, dq.desc >>> 32);
        write(QUEUE_DRIVER_LOW, dq.avail & 0xffff_ffffL);
        write(QUEUE_DRIVER_HIGH, dq.avail >>> 32);
        write(QUEUE_DEVICE_LOW, dq.used & 0xffff_ffffL);
        write(QUEUE_DEVICE_HIGH, dq.used >>> 32);
        write(QUEUE_READY, 1);
        return dq;
    }

    void driverOk() {
        setStatus(status() | DeviceStatus.DRIVER_OK);
        assertThat(status() & DeviceStatus.DRIVER_OK).as("DRIVER_OK accepted").isNotZero();
    }

    void kick(int q) {
        write(QUEUE_NOTIFY, q);
    }

    /** Waits until the I/O thread has handled every kick so far. */
    void syncIo() {
        assertThat(dev.syncIo(WAIT)).as("I/O thread went round").isTrue();
    }

    /** What vm_interrupt does: read InterruptStatus, acknowledge exactly that. */
    int takeInterrupt() {
        int s = (int) read(INTERRUPT_STATUS);
        write(INTERRUPT_ACK, s);
        return s;
    }

    @Override
    public void close() {
        dev.close();
        gm.assertGuardsIntact();
        gm.close();
    }
}
