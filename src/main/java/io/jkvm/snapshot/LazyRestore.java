package io.jkvm.snapshot;

import io.jkvm.memory.GuestRam;
import io.jkvm.memory.RamBacking;
import io.jkvm.vmm.Machine;
import io.jkvm.vmm.StopReason;

import java.io.IOException;
import java.util.function.Consumer;

/**
 * Guest RAM for a restore that fills itself from the memory file on first touch (issue: restore
 * time flat in guest size). A chunk refused when it is read (the file changed after the restore
 * began) stops the machine with the reason: the guest cannot go on without that memory.
 */
final class LazyRestore implements Consumer<Exception> {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(LazyRestore.class);

    private final GuestRam ram;
    private Machine machine;
    private Exception early;

    private LazyRestore(GuestRam ram) {
        this.ram = ram;
    }

    /**
     * RAM being filled lazily from the loaded snapshot's memory file, or null when this
     * snapshot or host cannot (no chunk MAC table, no usable userfaultfd): the caller then
     * verifies the whole file and reads it up front, as before. Throws for a memory file whose
     * length or layout is wrong.
     */
    static LazyRestore start(Snapshots.Loaded l, MachineConfig cfg, SnapshotKey key, byte[] snapshotId)
            throws IOException {
        if (!MemoryChunks.lazyCapable(l.memory(), l.protection())) {
            return null;
        }
        MemoryChunks source = MemoryChunks.open(l.memoryFile(), l.stateFile(), l.memory(), cfg, l.protection(), key,
                snapshotId, l.diff());
        GuestRam ram;
        try {
            ram = GuestRam.allocate(cfg.memoryBytes(), RamBacking.PAGES);
        } catch (RuntimeException e) {
            source.close();
            throw e;
        }
        LazyRestore r = new LazyRestore(ram);
        try {
            ram.fillLazily(MemoryFile.CHUNK, source, true, r);
        } catch (RuntimeException e) {
            LOG.info("restoring {} by reading it whole first: no lazy fill here ({})", l.memoryFile(), e.getMessage());
            ram.close();
            source.close();
            return null;
        }
        return r;
    }

    GuestRam ram() {
        return ram;
    }

    /** From now on a refused chunk stops {@code m}; one refused before stops it at once. */
    synchronized void attach(Machine m) {
        machine = m;
        if (early != null) {
            m.requestStop(StopReason.ERROR, early.getMessage());
        }
    }

    @Override
    public synchronized void accept(Exception e) {
        if (machine == null) {
            early = e;
        } else {
            machine.requestStop(StopReason.ERROR, e.getMessage());
        }
    }
}
