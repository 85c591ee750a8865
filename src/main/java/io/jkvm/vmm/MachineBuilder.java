package io.jkvm.vmm;

import io.jkvm.arch.x86.X86BootSetup;
import io.jkvm.arch.x86.X86VcpuSetup;
import io.jkvm.arch.x86.cpu.BootCpuState;
import io.jkvm.config.VmConfig;
import io.jkvm.kvm.Kvm;
import io.jkvm.memory.GuestRam;
import io.jkvm.memory.Ksm;
import io.jkvm.memory.RamBacking;
import io.jkvm.mmds.MmdsBinding;
import io.jkvm.snapshot.Snapshots;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.function.Consumer;

/**
 * Builds one machine of a VM with its devices, by the same path for a boot, a snapshot restore
 * and an incoming migration (the last two arrive as a {@link Snapshots.Restored}: a machine with
 * its KVM state applied and the saved device states): the machine, its RAM's settings (KSM,
 * dirty-page logging), the VMM's confinement hook, the devices ({@link DeviceManager#attach}, new
 * or from the saved states), and for a boot the boot data in RAM and the vCPUs' registers
 * ({@link X86BootSetup}, {@link X86VcpuSetup}). Nothing here starts a vCPU.
 */
final class MachineBuilder {
    private static final Logger LOG = LoggerFactory.getLogger(MachineBuilder.class);

    /** How the VM's machines are made: RAM backing and KSM, dirty-page logging from the start, the guest's CPU model. */
    record Settings(RamBacking ramBacking, boolean ksm, boolean trackDirtyPages, X86VcpuSetup.CpuModel cpu) {}

    /**
     * A machine and its devices. Closing takes the display away first (its memory slot and dirty
     * log go while the VM fd is open), then closes the machine (its vCPUs end), then the devices
     * (their I/O threads and host resources), so no vCPU reaches a device being torn down.
     */
    record Built(Machine machine, DeviceManager devices) implements AutoCloseable {
        @Override
        public void close() {
            try {
                devices.detachDisplay();
            } finally {
                try {
                    machine.close();
                } finally {
                    devices.close();
                }
            }
        }
    }

    private final Kvm kvm;
    private final DeviceManager.Shared shared;

    MachineBuilder(Kvm kvm, DeviceManager.Shared shared) {
        this.kvm = kvm;
        this.shared = shared;
    }

    /**
     * A machine of {@code config} with its devices, ready to start: booted from the kernel when
     * {@code restore} is null, otherwise {@code restore}'s machine with devices built from
     * {@code saved} (its device states; every one must be taken). {@code beforeDevices} runs (when
     * not null) once the machine exists and before any device does, on this thread. On failure
     * everything built so far is closed, {@code restore}'s machine included.
     */
    Built build(VmConfig config, Settings settings, MmdsBinding mmds, Snapshots.Restored restore, SavedDevices saved,
            Consumer<VmConfig> beforeDevices) throws IOException {
        Machine m = restore != null ? restore.machine()
                : Machine.create(kvm, new Machine.Options(config.cpus(), config.memoryBytes(), true, settings.ramBacking()),
                        o -> GuestRam.allocate(o.memoryBytes(), o.ramBacking(), settings.ksm()));
        Built built = new Built(m, new DeviceManager(config, shared, mmds));
        try {
            prepare(built, config, settings, restore != null, saved, beforeDevices);
            return built;
        } catch (IOException | RuntimeException | Error e) {
            built.close();
            throw e;
        }
    }

    private void prepare(Built built, VmConfig config, Settings settings, boolean restored, SavedDevices saved,
            Consumer<VmConfig> beforeDevices) throws IOException {
        Machine m = built.machine();
        if (settings.ksm()) {
            if (restored) {
                // A restored guest's RAM is a private file mapping: its copied-on-write pages are anonymous and merge.
                try {
                    Ksm.enable(m.memory());
                } catch (IllegalStateException e) {
                    throw new IOException(e.getMessage(), e);
                }
            }
            if (!Ksm.hostMerging()) {
                LOG.warn("--ksm: guest RAM is mergeable, but the host's ksmd is not running (echo 1 > /sys/kernel/mm/ksm/run)");
            }
        }
        if (settings.trackDirtyPages()) {
            // Before devices attach and states apply: whatever they write to guest RAM after the
            // restore differs from the snapshot's image, so it is logged.
            m.trackDirtyPages().setBaseline(restored);
        }
        if (saved == null) {
            shared.uart().reset();
        }
        if (beforeDevices != null) {
            beforeDevices.accept(config);
        }
        DeviceManager devices = built.devices();
        devices.attach(m, saved);
        if (saved != null) {
            saved.finish();
            LOG.info("resuming from a snapshot");
            return;
        }
        BootCpuState bsp = X86BootSetup.setup(m.memory(), new X86BootSetup.Config(config.memoryBytes(), config.cpus(),
                config.kernel(), config.initrd().orElse(null),
                DeviceManager.kernelCommandLine(config.cmdline(), devices.kernelParameters()), devices.mmioWindows()));
        X86VcpuSetup.configure(m.kvm(), m.vcpus(), settings.cpu(), bsp);
    }
}
