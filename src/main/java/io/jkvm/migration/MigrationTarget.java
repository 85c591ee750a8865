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

    /**
     * Storage migration: the source copies the contents of these disks (indexes into the shape it
     * announced) into this VM's own disks of the same index. Opens them for writing now, or
     * refuses with the reason (a {@link MigrationException}) before anything is sent.
     */
    default void receiveDisks(List<Integer> copiedDisks) {
        if (!copiedDisks.isEmpty()) {
            throw new MigrationException("this destination cannot receive disk contents");
        }
    }

    /** Writes received contents of copied disk {@code disk} (range checked against the source's size). */
    default void writeDisk(int disk, long offset, byte[] data) {
        throw new MigrationException("BLOCKS record: this destination takes no disk contents");
    }

    /** Makes a range of copied disk {@code disk} read as zeros. */
    default void zeroDisk(int disk, long offset, long length) {
        throw new MigrationException("ZERO_BLOCKS record: this destination takes no disk contents");
    }

    /** The end of a pre-copy round: received disk contents made durable (fsync) while the source runs. */
    default void flushDisks() {}

    /**
     * After DONE, before the devices are restored: every received disk byte is made durable
     * (fsync) and the images opened for {@link #receiveDisks} are closed, so the VM's devices
     * open them as their own.
     */
    default void finishDisks() {}

    /** Throws, saying why, if this VM's RAM cannot be filled on first touch (post-copy is refused then). */
    default void checkPostcopy() {
        machine().requireLazyFillableRam();
    }

    /**
     * Post-copy, after KVM state and before the devices: the chunks of {@code missing} are emptied
     * and fetched from {@code source} on first touch (and ahead of it) once the VM runs; one that
     * cannot be fetched stops the VM.
     */
    default io.jkvm.memory.LazyFill fetchRam(int chunkSize, io.jkvm.memory.LazyFill.ChunkSource source,
            java.util.BitSet missing) {
        return machine().fillRamLazily(chunkSize, source, missing);
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
