package io.jkvm.api;

import io.jkvm.config.VmConfig;
import io.jkvm.storage.ImageLocks;
import io.jkvm.storage.LoggedDisk;
import io.jkvm.migration.MigrationException;
import io.jkvm.migration.DiskReceivingTarget;
import io.jkvm.migration.MigrationSource;
import io.jkvm.migration.MigrationTarget;
import io.jkvm.migration.VmShape;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.MachineConfig;
import io.jkvm.snapshot.SnapshotException;
import io.jkvm.snapshot.VmConfigState;
import io.jkvm.vmm.LinuxVm;
import io.jkvm.vmm.Machine;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * A {@link LinuxVm} as live migration's source and destination.
 *
 * <p>The source announces its devices' shape ({@link VmShape}: ids, read-only flags, sizes,
 * MACs; no host paths) with its machine. The destination runs the VM on its own configuration
 * (checked against that shape by the API before anything is sent) or, only when its operator
 * trusts the source's paths, on the configuration the source recorded ({@code vm_config}).
 *
 * <p>Disks: the source flushes them while capturing device state (fsync) and then releases its
 * image locks, so the destination VMM, which opens the images when it starts the received VM,
 * can lock them (same host, or shared storage at the same paths). A failed migration takes the
 * locks back before the vCPUs resume, waiting a bounded time for a destination still letting go.
 */
final class LinuxVmMigration {
    private static final Logger LOG = LoggerFactory.getLogger(LinuxVmMigration.class);
    /**
     * How long a failed migration's source waits for its images' locks: the destination lets go
     * of them as it tears down, which a slow host may finish some seconds after it said FAILED.
     */
    static final long RELOCK_WAIT_MS = 15_000;

    private LinuxVmMigration() {}

    static MigrationSource source(LinuxVm vm) {
        Machine m = vm.machine();
        if (m == null) {
            throw ApiException.badRequest("the microVM is not running");
        }
        return new MigrationSource() {
            @Override
            public Machine machine() {
                return m;
            }

            @Override
            public List<LoggedDisk> startCopying(List<String> diskIds) {
                try {
                    return vm.startWriteLogs(diskIds).stream()
                            .sorted(java.util.Comparator.comparingInt(LoggedDisk::index)).toList();
                } catch (IllegalArgumentException e) {
                    throw new MigrationException("copy_drives: " + e.getMessage());
                }
            }

            @Override
            public void stopCopying() {
                vm.stopWriteLogs();
            }

            @Override
            public void pause() throws InterruptedException {
                vm.pause();
            }

            @Override
            public void resume() {
                try {
                    // A destination that failed late may still be closing the images it opened.
                    ImageLocks.retake(() -> vm.setDiskLocks(true), RELOCK_WAIT_MS);
                } catch (IOException e) {
                    // Someone else holds an image now: running on would corrupt it. Stop instead.
                    LOG.error("migration rollback: {} (waited {} ms); stopping the VM", e.getMessage(), RELOCK_WAIT_MS);
                    vm.stop();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    LOG.error("migration rollback: interrupted while taking the disk images' locks back; stopping the VM");
                    vm.stop();
                }
                vm.resume();
            }

            @Override
            public List<DeviceState> deviceStates() {
                try {
                    List<DeviceState> states = vm.captureDeviceStates();
                    vm.setDiskLocks(false);
                    return states;
                } catch (IOException e) {
                    throw new MigrationException("cannot capture device state: " + e.getMessage(), e);
                }
            }

            @Override
            public void migratedAway() {
                vm.stop();
            }

            @Override
            public VmShape shape() {
                try {
                    return VmShape.of(vm.config());
                } catch (IOException e) {
                    throw new MigrationException("cannot read the size of a disk image: " + e.getMessage(), e);
                }
            }
        };
    }

    /**
     * The destination: a machine of the source's shape; the devices are created from {@code own}
     * (this VMM's configuration) or, when that is null, from the configuration the source
     * recorded ({@link VmConfigState}), when its states arrive. Either way the recorded
     * configuration must be compatible ({@link LinuxVm#fromRestored}). {@code run} starts the VM
     * and returns the running guest (LinuxVmLauncher's exit reporting).
     */
    static MigrationTarget target(MachineConfig source, VmConfig own, LinuxVm.Console console,
            Function<LinuxVm, RunningGuest> run, Consumer<RunningGuest> started) {
        Machine machine = Machine.create(source.toOptions());
        MigrationTarget target = new MigrationTarget() {
            private LinuxVm vm;
            /** Once the VM's run thread has the machine, it closes it (also when starting fails). */
            private boolean handedOver;

            @Override
            public Machine machine() {
                return machine;
            }

            @Override
            public void restoreDevices(List<DeviceState> devices) {
                DeviceState saved = devices.stream().filter(d -> d.name().equals(VmConfigState.NAME)).findFirst()
                        .orElseThrow(() -> new MigrationException("DEVICE records: no " + VmConfigState.NAME
                                + " state, so not a Linux VM this VMM can run"));
                try {
                    VmConfig config = own != null ? own : VmConfigState.decode(saved);
                    vm = LinuxVm.fromRestored(config, console, machine, devices);
                } catch (SnapshotException e) {
                    throw new MigrationException("DEVICE records: " + e.getMessage());
                }
            }

            @Override
            public void start() {
                handedOver = true;
                try {
                    RunningGuest g = run.apply(vm);
                    started.accept(g);
                } catch (ApiException e) {
                    throw new MigrationException("cannot start the received VM: " + e.getMessage());
                }
            }

            @Override
            public void close() {
                if (!handedOver) {
                    machine.close();
                }
            }
        };
        // Disks the source copies go into this VMM's own drives; the source's recorded paths are
        // its own disks, never written.
        return own != null ? DiskReceivingTarget.into(target, own.devices().disks())
                : DiskReceivingTarget.refusing(target, "the source copies its disks, but this VMM has no drives of its own"
                        + " to receive them (configure them through the API instead of --trust-source-paths)");
    }
}
