package io.jkvm.device.virtio.mmio;

import io.jkvm.device.Bus;
import io.jkvm.device.IrqLine;
import io.jkvm.device.virtio.VirtioDevice;
import io.jkvm.device.virtio.pci.KvmNotifyRegistrar;
import io.jkvm.device.virtio.pci.NotifyRegistrar;
import io.jkvm.memory.GuestMemory;
import io.jkvm.resources.NanoClock;
import io.jkvm.snapshot.DeviceMismatchException;
import io.jkvm.vmm.Machine;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.IntFunction;

/**
 * The virtio-mmio devices of one VM, for the VMM: each at the base address and GSI the VM's
 * layout gives it, with ioeventfd kicks; {@link #close} tears them all down. The counterpart
 * of the PCI wiring ({@code io.jkvm.device.virtio.pci.VirtioDevices}) without a bus to
 * enumerate: the guest learns where they are from the kernel command line.
 */
public final class VirtioMmioDevices implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(VirtioMmioDevices.class);

    private final GuestMemory memory;
    private final Bus mmio;
    private final NotifyRegistrar notify;
    private final IntFunction<IrqLine> irqLines;
    private final List<VirtioMmioDevice> devices = new ArrayList<>();

    public VirtioMmioDevices(GuestMemory memory, Bus mmio, NotifyRegistrar notify, IntFunction<IrqLine> irqLines) {
        this.memory = Objects.requireNonNull(memory);
        this.mmio = Objects.requireNonNull(mmio);
        this.notify = notify == null ? NotifyRegistrar.NONE : notify;
        this.irqLines = Objects.requireNonNull(irqLines);
    }

    public static VirtioMmioDevices forMachine(Machine m) {
        return new VirtioMmioDevices(m.memory(), m.mmio(), new KvmNotifyRegistrar(m.vm()), m::irqLine);
    }

    /** Puts the transport for {@code device} at {@code base}, interrupting on {@code gsi}. */
    public synchronized VirtioMmioDevice attach(VirtioDevice device, long base, int gsi) {
        VirtioMmioDevice d = new VirtioMmioDevice(device, memory, mmio, base, irqLines.apply(gsi), notify);
        devices.add(d);
        return d;
    }

    /**
     * As {@link #attach}, then given the saved state {@code s}; a state that does not fit is
     * refused with a {@link DeviceMismatchException} naming {@code id}, and the device is closed.
     */
    public synchronized VirtioMmioDevice restore(String id, VirtioDevice device, long base, int gsi, VirtioMmioState s) {
        VirtioMmioDevice d;
        try {
            d = VirtioMmioDevice.restore(device, memory, mmio, base, irqLines.apply(gsi), notify, NanoClock.SYSTEM, s);
        } catch (DeviceMismatchException e) {
            throw new DeviceMismatchException(id, e.detail(), e);
        } catch (RuntimeException e) {
            throw new DeviceMismatchException(id, e.getMessage(), e);
        }
        devices.add(d);
        return d;
    }

    public synchronized List<VirtioMmioDevice> devices() {
        return List.copyOf(devices);
    }

    @Override
    public synchronized void close() {
        for (VirtioMmioDevice d : devices) {
            try {
                d.close();
            } catch (RuntimeException e) {
                LOG.warn("closing {} failed: {}", d, e.toString());
            }
        }
        devices.clear();
    }
}
