package io.jkvm.migration;

import io.jkvm.storage.LoggedDisk;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.vmm.Machine;

import java.util.List;

/**
 * What the migration engine needs from a running VM on the source. Implemented for bare
 * {@link Machine}s ({@link #of}) and, once it can capture device state, for {@code LinuxVm}.
 */
public interface MigrationSource {
    Machine machine();

    /** Stops every vCPU and, after that, device activity that could write guest RAM. */
    void pause() throws InterruptedException;

    /** Undoes {@link #pause()}: the migration failed or was cancelled, the VM goes on here. */
    void resume();

    /** Device states of the paused VM, after draining in-flight I/O and flushing disks (fsync). */
    List<DeviceState> deviceStates();

    /** The destination runs the VM now: stop it here for good. */
    void migratedAway();

    /**
     * Post-copy broke after the VM started at the destination: it cannot go on here (its state
     * there has moved on) nor there (RAM it needs is here). Stop it here, saying why.
     */
    default void lost(String why) {
        machine().requestStop(io.jkvm.vmm.StopReason.ERROR, why);
    }

    /**
     * The guest-visible devices, announced to the destination with the machine so it can check
     * its own devices against them before anything is sent; null for a VM that has none worth
     * describing (test guests).
     */
    default VmShape shape() {
        return null;
    }

    /**
     * Storage migration: starts logging the guest's writes to the disks with these ids (their
     * contents are copied to the destination while the guest runs) and returns them in disk
     * order. An id that names no disk, or a read-only one, is refused (MigrationException).
     */
    default List<LoggedDisk> startCopying(List<String> driveIds) {
        if (!driveIds.isEmpty()) {
            throw new MigrationException("copy_drives: this VM has no disks to copy");
        }
        return List.of();
    }

    /** Ends the write logs {@link #startCopying} began (the migration finished, either way). */
    default void stopCopying() {}

    /** A machine with no userspace devices worth migrating beyond {@code devices} (test guests). */
    static MigrationSource of(Machine m, java.util.function.Supplier<List<DeviceState>> devices) {
        return new MigrationSource() {
            public Machine machine() {
                return m;
            }

            public void pause() throws InterruptedException {
                m.pause();
            }

            public void resume() {
                m.resume();
            }

            public List<DeviceState> deviceStates() {
                return devices.get();
            }

            public void migratedAway() {
                m.requestStop(io.jkvm.vmm.StopReason.STOPPED, "migrated to another host");
            }
        };
    }
}
