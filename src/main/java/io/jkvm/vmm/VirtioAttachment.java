package io.jkvm.vmm;

import io.jkvm.arch.x86.Layout;
import io.jkvm.arch.x86.VirtioMmioSlots;
import io.jkvm.arch.x86.VirtioMmioWindow;
import io.jkvm.config.VirtioTransport;
import io.jkvm.device.pci.PciRoot;
import io.jkvm.device.virtio.VirtioDevice;
import io.jkvm.device.virtio.VirtioTransportDevice;
import io.jkvm.device.virtio.mmio.VirtioMmioDevices;
import io.jkvm.device.virtio.mmio.VirtioMmioState;
import io.jkvm.device.virtio.pci.VirtioDevices;
import io.jkvm.device.virtio.pci.VirtioPciState;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * Puts one machine's virtio devices on the VM's transport, in attach order: device {@code i}
 * becomes PCI slot {@code i + 1} with its swizzled INTx GSI, or virtio-mmio window {@code i}
 * ({@link VirtioMmioSlots}). Booting, a snapshot restore and an incoming migration all come
 * through {@link #attach}; with saved states each transport takes the state saved under the
 * device's id. {@link #close} tears down every device attached.
 */
abstract sealed class VirtioAttachment implements AutoCloseable {
    /** Builds a virtio device from its host resources (and its saved state, null when booting). */
    interface DeviceOpener {
        VirtioDevice open(Record savedState) throws IOException;
    }

    static VirtioAttachment of(VirtioTransport t, Machine m, PciRoot pci) {
        return switch (t) {
            case PCI -> new Pci(VirtioDevices.forMachine(m, pci));
            case MMIO -> new Mmio(VirtioMmioDevices.forMachine(m));
        };
    }

    /** Device {@code index} (0-based, attach order), named {@code id}; from its saved state when {@code saved} is not null. */
    abstract VirtioTransportDevice attach(String id, int index, DeviceOpener opener, SavedDevices saved) throws IOException;

    /** What the kernel command line needs so the guest finds the devices attached ("" when it enumerates them). */
    abstract String kernelParameters();

    /** The virtio-mmio devices attached, in attach order, for the ACPI tables (none on PCI). */
    abstract List<VirtioMmioWindow> mmioWindows();

    @Override
    public abstract void close();

    static final class Pci extends VirtioAttachment {
        private final VirtioDevices devices;

        Pci(VirtioDevices devices) {
            this.devices = devices;
        }

        /** Slot 0 is the host bridge's; the INTx GSI is the one the DSDT's _PRT announces for the slot. */
        @Override
        VirtioTransportDevice attach(String id, int index, DeviceOpener opener, SavedDevices saved) throws IOException {
            int gsi = Layout.pciIntxGsi(index + 1, 0);
            if (saved == null) {
                return devices.attach(opener.open(null), gsi);
            }
            VirtioPciState s = saved.take(id, VirtioPciState.class);
            return devices.restore(id, opener.open(s.device()), gsi, s);
        }

        @Override
        String kernelParameters() {
            return "";
        }

        @Override
        List<VirtioMmioWindow> mmioWindows() {
            return List.of();
        }

        @Override
        public void close() {
            devices.close();
        }
    }

    static final class Mmio extends VirtioAttachment {
        private final VirtioMmioDevices devices;
        private final List<String> parameters = new ArrayList<>();
        private final List<VirtioMmioWindow> windows = new ArrayList<>();

        Mmio(VirtioMmioDevices devices) {
            this.devices = devices;
        }

        @Override
        VirtioTransportDevice attach(String id, int index, DeviceOpener opener, SavedDevices saved) throws IOException {
            long base = VirtioMmioSlots.base(index);
            int gsi = VirtioMmioSlots.gsi(index);
            VirtioTransportDevice d;
            if (saved == null) {
                d = devices.attach(opener.open(null), base, gsi);
            } else {
                VirtioMmioState s = saved.take(id, VirtioMmioState.class);
                d = devices.restore(id, opener.open(s.core().device()), base, gsi, s);
            }
            parameters.add(VirtioMmioSlots.kernelParameter(index));
            windows.add(new VirtioMmioWindow(base, gsi));
            return d;
        }

        /**
         * Each device is declared twice: here for kernels without ACPI (Firecracker's guest
         * kernels, or acpi=off), which only honour {@code virtio_mmio.device=} (built with
         * CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES), and in the DSDT ({@link #mmioWindows}) for stock
         * distribution kernels, which are built without that option and ignore the parameter.
         * Neither is known to the VMM from the kernel image, so both are always given, as
         * Firecracker does since it gained ACPI on x86. A kernel honouring both makes two platform
         * devices per window; whichever binds second fails to claim the already-claimed MMIO
         * region (-EBUSY) and stays unbound, so each device is still driven once, at the cost of
         * one "probe ... failed" line in the guest's log.
         */
        @Override
        String kernelParameters() {
            return String.join(" ", parameters);
        }

        @Override
        List<VirtioMmioWindow> mmioWindows() {
            return List.copyOf(windows);
        }

        @Override
        public void close() {
            devices.close();
        }
    }
}
