package io.jkvm.migration;

import io.jkvm.memory.GuestMemory;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.MachineConfig;
import io.jkvm.storage.DiskConfig;
import io.jkvm.vmm.Machine;

import java.util.List;

/**
 * A destination that also receives the disks a source copies (storage migration) into this
 * VMM's own images, {@code disks} in the source's order ({@link ReceivedDisks}); everything else
 * is {@code inner}'s. With a {@code refusal} instead, a source that copies disks is refused with it.
 */
public final class DiskReceivingTarget implements MigrationTarget {
    private final MigrationTarget inner;
    private final List<DiskConfig> disks;
    private final String refusal;
    private ReceivedDisks received;

    private DiskReceivingTarget(MigrationTarget inner, List<DiskConfig> disks, String refusal) {
        this.inner = inner;
        this.disks = List.copyOf(disks);
        this.refusal = refusal;
    }

    /** {@code inner}, receiving copied disks into {@code disks}. */
    public static MigrationTarget into(MigrationTarget inner, List<DiskConfig> disks) {
        return new DiskReceivingTarget(inner, disks, null);
    }

    /** {@code inner}, refusing a source that copies disks with {@code why}. */
    public static MigrationTarget refusing(MigrationTarget inner, String why) {
        return new DiskReceivingTarget(inner, List.of(), why);
    }

    @Override
    public void receiveDisks(List<Integer> copied) {
        if (copied.isEmpty()) {
            return;
        }
        if (refusal != null) {
            throw new MigrationException(refusal);
        }
        received = ReceivedDisks.open(disks, copied);
    }

    @Override
    public void writeDisk(int disk, long offset, byte[] data) {
        received("BLOCKS").write(disk, offset, data);
    }

    @Override
    public void zeroDisk(int disk, long offset, long length) {
        received("ZERO_BLOCKS").zero(disk, offset, length);
    }

    private ReceivedDisks received(String record) {
        if (received == null) {
            throw new MigrationException(record + " record: no disk of this VM was announced as copied");
        }
        return received;
    }

    @Override
    public void flushDisks() {
        if (received != null) {
            received.flush();
        }
    }

    @Override
    public void finishDisks() {
        if (received != null) {
            received.finish();
        }
    }

    @Override
    public Machine machine() {
        return inner.machine();
    }

    @Override
    public GuestMemory memory() {
        return inner.memory();
    }

    @Override
    public void applyKvmState(MachineConfig config, byte[] state) {
        inner.applyKvmState(config, state);
    }

    @Override
    public void restoreDevices(List<DeviceState> devices) {
        inner.restoreDevices(devices);
    }

    @Override
    public void start() {
        inner.start();
    }

    /** The destination itself (what a caller of {@link IncomingMigration.Result#target()} made). */
    public MigrationTarget inner() {
        return inner;
    }

    @Override
    public void close() {
        try {
            if (received != null) {
                received.close();
            }
        } finally {
            inner.close();
        }
    }
}
