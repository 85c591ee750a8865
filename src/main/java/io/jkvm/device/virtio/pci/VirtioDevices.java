package io.jkvm.device.virtio.pci;

import io.jkvm.device.Bus;
import io.jkvm.device.IrqLine;
import io.jkvm.device.msi.GsiRouter;
import io.jkvm.device.msi.KvmMsiController;
import io.jkvm.device.msi.MsiController;
import io.jkvm.device.pci.PciRoot;
import io.jkvm.device.virtio.VirtioDevice;
import io.jkvm.kvm.VmFd;
import io.jkvm.memory.GuestMemory;
import io.jkvm.snapshot.DeviceMismatchException;
import io.jkvm.vmm.Machine;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.IntFunction;

/**
 * Wiring of virtio-pci devices into a VM, for the VMM.
 *
 * <pre>{@code
 * PciRoot root = new PciRoot();
 * m.pio().register(Layout.PCI_CONFIG_PORT, PciConfigIo.LENGTH, new PciConfigIo(root));
 * VirtioDevices virtio = VirtioDevices.forMachine(m, root);       // one per VM, owns the GsiRouter
 * virtio.attach(VirtioBlock.open(DiskConfig.parse("path=disk.img")), 10);
 * virtio.attach(new VirtioNet(Tap.open("tap0"), mac), 11);
 * ... m.start() ...
 * virtio.reset();   // on platform reset (or root.reset(), which resets every function)
 * virtio.close();   // before m.close(): stops I/O threads, closes files, fds and irqfds
 * }</pre>
 *
 * <p>Each device gets a PCI slot, MSI-X vectors routed through the VM-wide {@link GsiRouter}
 * (irqfd per vector, KVM_SIGNAL_MSI fallback), ioeventfds on its notify addresses and an INTx
 * fallback on the given IOAPIC GSI (the VMM must describe it as level-triggered, active-high
 * to the guest, e.g. in the MP table/ACPI _PRT). BARs are mapped wherever the guest (or
 * {@link #attach(VirtioDevice, int, long)}, firmware style) programs them.
 */
public final class VirtioDevices implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(VirtioDevices.class);

    private final GuestMemory memory;
    private final Bus mmio;
    private final PciRoot root;
    private final GsiRouter router;
    private final MsiController msi;
    private final NotifyRegistrar notify;
    private final IntFunction<IrqLine> irqLines;
    private final List<VirtioPciDevice> devices = new ArrayList<>();

    public VirtioDevices(GuestMemory memory, Bus mmio, PciRoot root, GsiRouter router, MsiController msi,
            NotifyRegistrar notify, IntFunction<IrqLine> irqLines) {
        this.memory = Objects.requireNonNull(memory);
        this.mmio = Objects.requireNonNull(mmio);
        this.root = Objects.requireNonNull(root);
        this.router = router;
        this.msi = Objects.requireNonNull(msi);
        this.notify = notify == null ? NotifyRegistrar.NONE : notify;
        this.irqLines = Objects.requireNonNull(irqLines);
    }

    /** KVM wiring: a new {@link GsiRouter} for {@code vm}, irqfd MSI-X and ioeventfd kicks. */
    public static VirtioDevices forKvm(VmFd vm, GuestMemory memory, Bus mmio, PciRoot root, IntFunction<IrqLine> irqLines) {
        GsiRouter router = new GsiRouter(vm::setGsiRouting);
        return new VirtioDevices(memory, mmio, root, router, new KvmMsiController(vm, router),
                new KvmNotifyRegistrar(vm), irqLines);
    }

    public static VirtioDevices forMachine(Machine m, PciRoot root) {
        return forKvm(m.vm(), m.memory(), m.mmio(), root, m::irqLine);
    }

    /** The VM's routing table; share it with anything else that needs MSI routes. */
    public GsiRouter router() {
        return router;
    }

    /** Creates the transport for {@code device} and puts it in the lowest free PCI slot. */
    public synchronized VirtioPciDevice attach(VirtioDevice device, int intxGsi) {
        VirtioPciDevice d = new VirtioPciDevice(device, memory, mmio, msi, irqLines.apply(intxGsi), intxGsi, notify);
        try {
            root.add(d);
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
        devices.add(d);
        return d;
    }

    /**
     * The one path that builds a restored function: the transport is created around
     * {@code device} (built from its host resources) as {@link #attach(VirtioDevice, int)} does,
     * then given the saved state {@code s} ({@link VirtioPciDevice#restore}) (config space and BAR mapping, MSI-X routes,
     * common configuration, queue positions, then the device's own state once it is active).
     * A state that does not fit is refused with a {@link DeviceMismatchException} naming
     * {@code id} and the field; the function is then closed.
     */
    public synchronized VirtioPciDevice restore(String id, VirtioDevice device, int intxGsi, VirtioPciState s) {
        VirtioPciDevice d;
        try {
            d = VirtioPciDevice.restore(device, memory, mmio, msi, irqLines.apply(intxGsi), intxGsi, notify, s);
        } catch (DeviceMismatchException e) {
            throw new DeviceMismatchException(id, e.detail(), e);
        } catch (RuntimeException e) {
            throw new DeviceMismatchException(id, e.getMessage(), e);
        }
        try {
            root.add(d);
        } catch (RuntimeException e) {
            d.close();
            throw e;
        }
        devices.add(d);
        return d;
    }

    /**
     * As {@link #attach(VirtioDevice, int)}, with BAR 0 pre-assigned at {@code barAddress}
     * (kept across resets; it decodes once the guest sets Memory Space Enable).
     */
    public synchronized VirtioPciDevice attach(VirtioDevice device, int intxGsi, long barAddress) {
        VirtioPciDevice d = attach(device, intxGsi);
        d.config().setBarAddress(VirtioPciLayout.BAR, barAddress);
        return d;
    }

    public synchronized List<VirtioPciDevice> devices() {
        return List.copyOf(devices);
    }

    /** Platform reset of every attached function. */
    public synchronized void reset() {
        devices.forEach(VirtioPciDevice::reset);
    }

    @Override
    public synchronized void close() {
        for (VirtioPciDevice d : devices) {
            try {
                d.close();
            } catch (RuntimeException e) {
                LOG.warn("closing {} failed: {}", d, e.toString());
            }
        }
        devices.clear();
    }
}
