package io.jkvm.migration;

import io.jkvm.memory.GuestMemory;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.KvmSection;
import io.jkvm.snapshot.MachineConfig;
import io.jkvm.snapshot.SnapshotException;
import io.jkvm.vmm.Machine;

import java.util.List;

/** The destination's VM while it is being received: a created, not started machine with fresh (zeroed) RAM. */
public interface MigrationTarget extends AutoCloseable {
    Machine machine();

    /** The RAM the stream's pages go to. */
    default GuestMemory memory() {
        return machine().memory();
    }

    /** Decodes the source's KVM_STATE record for {@code config} and applies it, as a snapshot restore does. */
    default void applyKvmState(MachineConfig config, byte[] state) {
        try {
            KvmSection.apply(machine(), KvmSection.decode(config, state, "migration stream"));
        } catch (SnapshotException e) {
            throw new MigrationException("KVM_STATE record: " + e.getMessage());
        }
    }

    /** Gives the received device states to the devices (KVM state is already applied). */
    void restoreDevices(List<DeviceState> devices);

    /** Runs the VM from the received state. */
    void start();

    /** Throws the migration away (failure before {@link #start()}). */
    @Override
    void close();

    /** Creates the destination VM for a source's configuration, or refuses it. */
    @FunctionalInterface
    interface Factory {
        /**
         * @param devices the guest-visible devices the source announced, or null if it sent none
         *     (a source that is not a Linux VM)
         * @throws MigrationException with the reason when this destination cannot take the source
         */
        MigrationTarget create(MachineConfig config, VmShape devices);
    }
}
