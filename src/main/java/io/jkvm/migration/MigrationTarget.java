package io.jkvm.migration;

import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.MachineConfig;
import io.jkvm.vmm.Machine;

import java.util.List;

/** The destination's VM while it is being received: a created, not started machine with fresh (zeroed) RAM. */
public interface MigrationTarget extends AutoCloseable {
    Machine machine();

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
        /** @throws MigrationException with the reason when this destination cannot take {@code config} */
        MigrationTarget create(MachineConfig config);
    }
}
