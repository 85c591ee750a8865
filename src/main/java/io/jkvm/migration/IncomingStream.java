package io.jkvm.migration;

import io.jkvm.memory.GuestMemory;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.MachineConfig;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The destination's view of the stream: enforces record order (CONFIG; then PAGES, ZERO_PAGES,
 * BLOCKS, ZERO_BLOCKS and ROUND; then at most one POSTCOPY, if CONFIG announced it; then one
 * KVM_STATE; then DEVICEs; then DONE) and writes pages into
 * guest RAM only after checking each gpa is page-aligned and inside the RAM the accepted
 * configuration created, and disk contents only to a disk announced as copied, inside its size. KVM
 * and device state are only collected here; applying them is {@link IncomingMigration}'s job.
 *
 * <p>What is kept until DONE is bounded by what the accepted machine can need, not by what the
 * source sends ({@link #next}): the KVM state by the vCPU count ({@link #kvmStateLimit}), all
 * device states together by {@link #MAX_DEVICE_BYTES}, at most {@link #MAX_DEVICES} of them.
 */
final class IncomingStream implements RecordReader.Limits {
    private enum Phase { CONFIG, MEMORY, DEVICES, DONE }

    /** Device states (names and bytes) a destination keeps in all: a Linux VM's take a few KiB. */
    static final long MAX_DEVICE_BYTES = 4L << 20;
    static final int MAX_DEVICES = 256;
    /** KVM state allowed besides the per-vCPU part (irqchip, PIT, clock, headers). */
    static final long KVM_STATE_BASE = 1L << 20;
    /** KVM state allowed per vCPU (registers, MSRs, LAPIC, XSAVE, CPUID: tens of KiB in practice). */
    static final long KVM_STATE_PER_VCPU = 256L << 10;

    /** Creates the destination for what the source announced (or refuses it) and returns its RAM. */
    @FunctionalInterface
    interface OnConfig {
        GuestMemory accept(MachineConfig config, VmShape shape, List<Integer> copiedDisks);

        /** {@code postcopy}: the source may switch to post-copy; a destination that cannot take it refuses. */
        default GuestMemory accept(MachineConfig config, VmShape shape, List<Integer> copiedDisks, boolean postcopy) {
            if (postcopy) {
                throw new MigrationException("post-copy: this destination cannot fetch guest RAM after the start");
            }
            return accept(config, shape, copiedDisks);
        }
    }

    /** Where the copied disks' contents go (ranges already checked against the announced disk). */
    interface DiskWriter {
        void write(int disk, long offset, byte[] data);

        void zero(int disk, long offset, long length);

        /** A pre-copy round ended: make what arrived durable now, not inside the downtime. */
        default void checkpoint() {}
    }

    private static final DiskWriter NO_DISKS = new DiskWriter() {
        public void write(int disk, long offset, byte[] data) {
            throw new MigrationException("BLOCKS record: this destination takes no disk contents");
        }

        public void zero(int disk, long offset, long length) {
            throw new MigrationException("ZERO_BLOCKS record: this destination takes no disk contents");
        }
    };

    private final OnConfig onConfig;
    private final DiskWriter disks;
    private List<Integer> copiedDisks = List.of();
    private long diskBytes;
    private Phase phase = Phase.CONFIG;
    private MachineConfig config;
    private VmShape shape;
    private GuestMemory memory;
    private byte[] kvmState;
    private final List<DeviceState> devices = new ArrayList<>();
    private final Set<String> deviceNames = new HashSet<>();
    private long pages;
    private int rounds;
    private long deviceBytes;
    private boolean postcopyAnnounced;
    private MigrationRecord.Postcopy postcopy;

    /** {@code onConfig} creates the destination for a configuration (or throws, refusing it) and returns its RAM. */
    IncomingStream(OnConfig onConfig) {
        this(onConfig, NO_DISKS);
    }

    /** As above, with the copied disks' contents going to {@code disks}. */
    IncomingStream(OnConfig onConfig, DiskWriter disks) {
        this.onConfig = onConfig;
        this.disks = disks;
    }

    /** Takes the next record; returns true once DONE has been accepted. */
    boolean accept(MigrationRecord r) {
        if (phase == Phase.DONE) {
            throw new MigrationException(name(r) + " record after DONE");
        }
        switch (r) {
            case MigrationRecord.Config c -> {
                expect(r, Phase.CONFIG);
                config = c.config();
                shape = c.shape();
                copiedDisks = c.copiedDisks();
                postcopyAnnounced = c.postcopy();
                memory = onConfig.accept(config, shape, copiedDisks, postcopyAnnounced);
                if (memory.size() != config.memoryBytes()) {
                    throw new MigrationException("destination created " + memory.size() + " bytes of RAM for "
                            + config.memoryBytes());
                }
                phase = Phase.MEMORY;
            }
            case MigrationRecord.Pages p -> {
                expect(r, Phase.MEMORY);
                for (int i = 0; i < p.gpas().length; i++) {
                    checkGpa("PAGES", p.gpas()[i]);
                }
                for (int i = 0; i < p.gpas().length; i++) {
                    memory.write(p.gpas()[i], p.data(), i * Wire.PAGE, Wire.PAGE);
                }
                pages += p.gpas().length;
            }
            case MigrationRecord.ZeroPages z -> {
                expect(r, Phase.MEMORY);
                for (long gpa : z.gpas()) {
                    checkGpa("ZERO_PAGES", gpa);
                }
                for (long gpa : z.gpas()) {
                    memory.fill(gpa, Wire.PAGE, (byte) 0);
                }
                pages += z.gpas().length;
            }
            case MigrationRecord.Blocks b -> {
                expect(r, Phase.MEMORY);
                checkDiskRange("BLOCKS", b.disk(), b.offset(), b.data().length);
                disks.write(b.disk(), b.offset(), b.data());
                diskBytes += b.data().length;
            }
            case MigrationRecord.ZeroBlocks z -> {
                expect(r, Phase.MEMORY);
                checkDiskRange("ZERO_BLOCKS", z.disk(), z.offset(), z.length());
                disks.zero(z.disk(), z.offset(), z.length());
                diskBytes += z.length();
            }
            case MigrationRecord.Round round -> {
                expect(r, Phase.MEMORY);
                if (round.round() != rounds) {
                    throw new MigrationException("ROUND record: round " + round.round() + ", expected " + rounds);
                }
                rounds++;
                if (!copiedDisks.isEmpty()) {
                    disks.checkpoint();
                }
            }
            case MigrationRecord.Postcopy p -> {
                expect(r, Phase.MEMORY);
                if (!postcopyAnnounced) {
                    throw new MigrationException("POSTCOPY record: CONFIG did not announce post-copy");
                }
                int chunks = postcopyChunks();
                if (p.chunks() != chunks) {
                    throw new MigrationException("POSTCOPY record: " + p.chunks() + " chunks, this machine's RAM has " + chunks);
                }
                postcopy = p;
            }
            case MigrationRecord.KvmState k -> {
                expect(r, Phase.MEMORY);
                kvmState = k.bytes();
                phase = Phase.DEVICES;
            }
            case MigrationRecord.Device d -> {
                expect(r, Phase.DEVICES);
                if (!deviceNames.add(d.state().name())) {
                    throw new MigrationException("DEVICE record: device " + d.state().name() + " sent twice");
                }
                if (devices.size() >= MAX_DEVICES) {
                    throw new MigrationException("DEVICE record: more than " + MAX_DEVICES + " devices");
                }
                deviceBytes += d.state().name().length() + d.state().size();
                devices.add(d.state());
            }
            case MigrationRecord.Done d -> {
                expect(r, Phase.DEVICES);
                phase = Phase.DONE;
                return true;
            }
            case MigrationRecord.Abort a -> throw new MigrationException("the source aborted the migration: " + a.reason());
            default -> throw new MigrationException(name(r) + " record is a reply; the source may not send it");
        }
        return false;
    }

    /**
     * The receiver's limit on the next record of {@code type}, applied to its announced length
     * before the payload is read: KVM state sized for this machine's vCPUs, device states within
     * what is left of {@link #MAX_DEVICE_BYTES}. Other types keep the wire's limits (PAGES and
     * ZERO_PAGES are written to RAM and dropped record by record).
     */
    @Override
    public RecordReader.Limit next(int type) {
        long wire = RecordReader.maxLength(type);
        if (phase == Phase.CONFIG && type != Wire.CONFIG && type != Wire.ABORT && !Wire.isReply(type)) {
            // Refused on its header: a KVM_STATE record may announce 64 MiB, read in full before
            // accept() would see it is out of order.
            throw outOfOrder(Wire.name(type));
        }
        if (type == Wire.KVM_STATE && config != null) {
            return new RecordReader.Limit(Math.min(wire, kvmStateLimit(config.cpus())),
                    "KVM state for " + config.cpus() + " vCPU" + (config.cpus() == 1 ? "" : "s"));
        }
        if (Wire.isReply(type)) {
            return new RecordReader.Limit(0, "a source sends no replies");
        }
        if (type == Wire.CHUNK) {
            return new RecordReader.Limit(0, "CHUNK comes only after DONE, asked for");
        }
        if (type == Wire.POSTCOPY && (memory == null || !postcopyAnnounced)) {
            return new RecordReader.Limit(0, "CONFIG did not announce post-copy");
        }
        if (type == Wire.POSTCOPY) {
            int chunks = postcopyChunks();
            return new RecordReader.Limit(Math.min(wire, 4 + (chunks + 7L) / 8), "the bitmap of this machine's " + chunks
                    + " chunks");
        }
        if (type == Wire.DEVICE) {
            return new RecordReader.Limit(Math.min(wire, 2 + MAX_DEVICE_BYTES - deviceBytes),
                    "device states may take " + (MAX_DEVICE_BYTES >> 20) + " MiB in all, " + (MAX_DEVICE_BYTES - deviceBytes)
                            + " bytes are left");
        }
        return new RecordReader.Limit(wire, null);
    }

    static long kvmStateLimit(int cpus) {
        return KVM_STATE_BASE + cpus * KVM_STATE_PER_VCPU;
    }

    /** This machine's RAM in post-copy chunks (the numbering both ends derive from the same size). */
    private int postcopyChunks() {
        return io.jkvm.memory.RamChunks.of(memory, Wire.POSTCOPY_CHUNK).count();
    }

    private void expect(MigrationRecord r, Phase want) {
        if (postcopy != null && phase == Phase.MEMORY && !(r instanceof MigrationRecord.KvmState)) {
            throw new MigrationException(name(r) + " record out of order: only KVM_STATE may follow POSTCOPY");
        }
        if (phase != want) {
            throw outOfOrder(name(r));
        }
    }

    /** A {@code record} the current phase does not take, naming what it does. */
    private MigrationException outOfOrder(String record) {
        return new MigrationException(record + " record out of order: expected " + switch (phase) {
            case CONFIG -> "CONFIG first";
            case MEMORY -> "PAGES, ZERO_PAGES, BLOCKS, ZERO_BLOCKS, ROUND, POSTCOPY or KVM_STATE";
            case DEVICES -> "DEVICE or DONE after KVM_STATE";
            case DONE -> "nothing after DONE";
        });
    }

    private void checkGpa(String record, long gpa) {
        if ((gpa & (Wire.PAGE - 1)) != 0) {
            throw new MigrationException(String.format("%s record: gpa 0x%x is not page-aligned", record, gpa));
        }
        if (!memory.isValid(gpa, Wire.PAGE)) {
            throw new MigrationException(String.format("%s record: gpa 0x%x is outside guest RAM", record, gpa));
        }
    }

    /** A copied disk's range: the disk announced as copied, the range inside its announced size (whole sectors). */
    private void checkDiskRange(String record, int disk, long offset, long length) {
        if (!copiedDisks.contains(disk)) {
            throw new MigrationException(record + " record: disk " + disk + " is not one the source announced as copied "
                    + copiedDisks);
        }
        long size = shape.disks().get(disk).sizeBytes() / Wire.SECTOR * Wire.SECTOR;
        if (offset > size || length > size - offset) {
            throw new MigrationException(record + " record: range [" + offset + ", +" + length + ") is outside disk " + disk
                    + " of " + size + " bytes");
        }
    }

    private static String name(MigrationRecord r) {
        return r.getClass().getSimpleName().replaceAll("([a-z])([A-Z])", "$1_$2").toUpperCase(java.util.Locale.ROOT);
    }

    MachineConfig config() {
        return config;
    }

    /** The source's device shape, or null if it sent none. */
    VmShape shape() {
        return shape;
    }

    /** The switch to post-copy, or null (pre-copy sent everything). */
    MigrationRecord.Postcopy postcopy() {
        return postcopy;
    }

    byte[] kvmState() {
        return kvmState;
    }

    List<DeviceState> devices() {
        return List.copyOf(devices);
    }

    long pages() {
        return pages;
    }

    /** Disk bytes received (zeroed ranges counted by their length). */
    long diskBytes() {
        return diskBytes;
    }

    int rounds() {
        return rounds;
    }
}
