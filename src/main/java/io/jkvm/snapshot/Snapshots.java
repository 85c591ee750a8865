package io.jkvm.snapshot;

import io.jkvm.memory.GuestMemory;
import io.jkvm.memory.GuestRam;
import io.jkvm.vmm.DirtyTracker;
import io.jkvm.vmm.Machine;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * Saving and restoring complete VMs: KVM state, guest memory and device state.
 *
 * <p>A snapshot is two files: the state file ({@link SnapshotFile}: configuration, vCPU and VM
 * state, device states) and the memory file (guest RAM, {@link MemoryFile}). Both are
 * authenticated with HMAC-SHA256 under the user's key; the state file's authenticated header
 * carries the memory file's length and MAC, so the two cannot be mixed across snapshots. With
 * {@link Protection#AES_256_GCM} both are also encrypted.
 *
 * <p>Restore is lazy where it can be ({@link LazyRestore}): guest RAM is anonymous memory filled
 * on first touch through a userfaultfd, one 1 MiB chunk at a time, each chunk checked as it is
 * read (clear: against the chunk MAC table in the authenticated header; encrypted: its GCM
 * tag), and a fill thread reads the untouched chunks meanwhile. So restore time does not grow
 * with guest size, and a memory file changed after the restore began is still refused (the
 * machine stops with the reason). Snapshots written before the table, guests over 32 GiB, and
 * hosts without a usable /dev/userfaultfd restore as before: the whole file authenticated up
 * front, then a clear file mapped MAP_PRIVATE (pages read on first touch; the snapshot
 * directory must then not be writable by anyone the VMM does not trust while the VM runs, and
 * a memory file that group or others can write is refused) or an encrypted one decrypted into
 * anonymous memory.
 *
 * <p>Files are written to temporaries (mode 0600) and renamed into place, memory file first,
 * so a crash never leaves a state file pointing at a half-written memory file.
 */
public final class Snapshots {
    private Snapshots() {}

    /** The kvm section plus at most 256 device states. */
    static final int MAX_SECTIONS = 257;

    /** What {@link #save} wrote and how long it took. */
    public record SaveResult(long stateFileBytes, long memoryFileBytes, Duration elapsed, Duration captureKvm,
            Duration writeMemory) {}

    /** A verified, decoded snapshot not yet applied to any machine. */
    public record Loaded(Path stateFile, Path memoryFile, Protection protection, String snapshotId,
            String createdAt, VmState state, List<DeviceState> devices, SnapshotHeader.Memory memory, boolean diff) {
        public MachineConfig config() {
            return state.config();
        }

        /** Refuses, with the reason, restoring this snapshot onto a machine configured as {@code target}. */
        public void checkCompatible(Machine.Options target) {
            String why = config().incompatibility(target);
            if (why != null) {
                throw new SnapshotException("cannot restore " + stateFile + ": " + why);
            }
        }
    }

    /** A restored machine (created, state applied, not started) and the device states to apply. */
    public record Restored(Machine machine, List<DeviceState> devices, Duration elapsed, Duration verify,
            Duration createMachine) {
        /** The saved state of device {@code name}, or null. */
        public DeviceState device(String name) {
            return devices.stream().filter(d -> d.name().equals(name)).findFirst().orElse(null);
        }
    }

    public static SaveResult save(Machine m, List<DeviceState> devices, Path stateFile, Path memFile, SnapshotKey key)
            throws IOException {
        return save(m, devices, stateFile, memFile, key, Protection.HMAC_SHA256);
    }

    /**
     * Saves a paused machine ({@link Machine#pause()}; a machine not started yet or whose vCPUs
     * have all stopped is accepted too). The machine stays paused.
     */
    public static SaveResult save(Machine m, List<DeviceState> devices, Path stateFile, Path memFile, SnapshotKey key,
            Protection protection) throws IOException {
        if (!m.isQuiescent()) {
            throw new SnapshotException("the machine must be paused (Machine.pause()) before it is snapshotted");
        }
        m.memory().awaitPresent(); // a VM restored lazily: writing reads RAM from Java code
        long t0 = System.nanoTime();
        VmState state = KvmStateCapture.capture(m);
        SaveResult r = write(state, m.memory(), devices, stateFile, memFile, key, protection, t0, null);
        DirtyTracker t = m.dirtyTracker();
        if (t != null) {
            // All of RAM is saved: the next Diff holds what is dirtied from here on (Firecracker
            // resets the dirty bitmap after every snapshot, Full or Diff).
            t.collect();
            t.setBaseline(true);
        }
        return r;
    }

    /**
     * Firecracker's snapshot_type "Diff": like {@link #save}, but the memory file holds only the
     * pages dirtied since the previous snapshot (or the restore) of this machine, which must
     * track dirty pages ({@link Machine#trackDirtyPages()}). The state file's header records the
     * page runs, the diff file's MAC and the MAC of all RAM; the dirty set is then reset. Clear
     * (HMAC-SHA256) only. Merge the diff onto the base with {@link DiffMerge} to restore it.
     */
    public static SaveResult saveDiff(Machine m, List<DeviceState> devices, Path stateFile, Path memFile,
            SnapshotKey key) throws IOException {
        if (!m.isQuiescent()) {
            throw new SnapshotException("the machine must be paused (Machine.pause()) before it is snapshotted");
        }
        DirtyTracker t = m.dirtyTracker();
        if (t == null) {
            throw new SnapshotException("a Diff snapshot needs dirty page tracking (track_dirty_pages) on this machine");
        }
        if (!t.hasBaseline()) {
            throw new SnapshotException("a Diff snapshot needs a base: take a Full snapshot of this machine first"
                    + " (none since it booted, or a migration attempt took over the dirty log)");
        }
        m.memory().awaitPresent();
        long t0 = System.nanoTime();
        VmState state = KvmStateCapture.capture(m);
        // Userspace-written pages ever seen are included: a device may write through a view it
        // took before the previous snapshot (DirtyTracker#collectFinal).
        long[] pages = t.collectFinal();
        try {
            return write(state, m.memory(), devices, stateFile, memFile, key, Protection.HMAC_SHA256, t0,
                    DirtyRuns.of(m.options().memoryBytes(), pages));
        } catch (IOException | RuntimeException e) {
            t.requeue(pages); // not saved: the next Diff must still hold them
            throw e;
        }
    }

    static SaveResult write(VmState state, GuestMemory mem, List<DeviceState> devices, Path stateFile, Path memFile,
            SnapshotKey key, Protection protection, long t0) throws IOException {
        return write(state, mem, devices, stateFile, memFile, key, protection, t0, null);
    }

    /** Writes a Full snapshot, or with {@code diffRuns} a Diff holding those pages. */
    static SaveResult write(VmState state, GuestMemory mem, List<DeviceState> devices, Path stateFile, Path memFile,
            SnapshotKey key, Protection protection, long t0, DirtyRuns diffRuns) throws IOException {
        if (diffRuns != null && protection != Protection.HMAC_SHA256) {
            throw new SnapshotException(memFile, "Diff snapshots are written in clear (HMAC-SHA256) only");
        }
        if (stateFile.toAbsolutePath().equals(memFile.toAbsolutePath())) {
            throw new SnapshotException(stateFile, "state and memory file must differ");
        }
        SecureRandom rnd = new SecureRandom();
        byte[] snapshotId = new byte[16];
        byte[] memNonce = new byte[12];
        byte[] payloadNonce = new byte[12];
        rnd.nextBytes(snapshotId);
        rnd.nextBytes(memNonce);
        rnd.nextBytes(payloadNonce);

        Path memTmp = tempBeside(memFile);
        Path stateTmp = null;
        try {
            long tMem = System.nanoTime();
            SnapshotHeader.Memory memory;
            SnapshotHeader.Diff diff = null;
            if (diffRuns != null) {
                diff = DiffFile.write(memTmp, mem, diffRuns, key);
                memory = MemoryFile.ramRecord(mem, key);
            } else {
                try (FileChannel ch = FileChannel.open(memTmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                    memory = MemoryFile.write(ch, mem, key, protection, snapshotId, memNonce);
                    ch.force(true);
                }
            }
            Duration writeMemory = Duration.ofNanos(System.nanoTime() - tMem);
            List<SnapshotHeader.Section> sections = new ArrayList<>();
            ByteArrayOutputStream payload = new ByteArrayOutputStream();
            byte[] kvm = KvmStateCodec.encode(state);
            sections.add(new SnapshotHeader.Section("kvm", 0, kvm.length));
            payload.write(kvm);
            Set<String> names = new HashSet<>();
            if (devices.size() > MAX_SECTIONS - 1) {
                throw new SnapshotException("too many device states (" + devices.size() + ", limit " + (MAX_SECTIONS - 1) + ")");
            }
            for (DeviceState d : devices) {
                DeviceState blob = DeviceState.of(d.name(), d.bytes()); // validates name and size
                if (!names.add(blob.name())) {
                    throw new SnapshotException("two device states are named " + blob.name());
                }
                sections.add(new SnapshotHeader.Section("device/" + blob.name(), payload.size(), blob.bytes().length));
                payload.write(blob.bytes());
            }
            SnapshotHeader header = new SnapshotHeader(SnapshotFile.VERSION, HexFormat.of().formatHex(snapshotId),
                    Instant.now().toString(), diff != null ? SnapshotHeader.DIFF : SnapshotHeader.FULL, state.config(),
                    memory, diff, sections,
                    protection == Protection.AES_256_GCM ? HexFormat.of().formatHex(payloadNonce) : null);
            byte[] bytes = SnapshotFile.write(header, protection, payload.toByteArray(), key);
            stateTmp = tempBeside(stateFile);
            try (FileChannel ch = FileChannel.open(stateTmp, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer buf = ByteBuffer.wrap(bytes);
                while (buf.hasRemaining()) {
                    ch.write(buf);
                }
                ch.force(true);
            }
            Files.move(memTmp, memFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            Files.move(stateTmp, stateFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return new SaveResult(bytes.length, diff != null ? diff.length() : memory.length(), Duration.ofNanos(System.nanoTime() - t0),
                    Duration.ofNanos(tMem - t0), writeMemory);
        } finally {
            Files.deleteIfExists(memTmp);
            if (stateTmp != null) {
                Files.deleteIfExists(stateTmp);
            }
        }
    }

    private static Path tempBeside(Path file) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        return Files.createTempFile(dir, "." + file.getFileName(), ".tmp",
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
    }

    /**
     * Reads and authenticates both files and decodes the state. Throws {@link SnapshotException}
     * naming the file and the problem for anything modified, truncated, mismatched or malformed.
     */
    public static Loaded load(Path stateFile, Path memFile, SnapshotKey key) throws IOException {
        return load(stateFile, memFile, key, true);
    }

    /**
     * As {@link #load(Path, Path, SnapshotKey)}; with {@code verifyMemory} false the memory
     * file is left for a lazy restore to check chunk by chunk ({@link MemoryChunks}).
     */
    static Loaded load(Path stateFile, Path memFile, SnapshotKey key, boolean verifyMemory) throws IOException {
        long size = Files.size(stateFile);
        if (size > SnapshotFile.MAX_SIZE) {
            throw new SnapshotException(stateFile, "state file is " + size + " bytes, over the " + SnapshotFile.MAX_SIZE
                    + "-byte limit (not a jkvm state file?)");
        }
        Decoded d = decode(stateFile, Files.readAllBytes(stateFile), key);
        SnapshotFile.Parsed p = d.parsed();
        SnapshotHeader h = p.header();
        Loaded l = new Loaded(stateFile, memFile, p.protection(), h.snapshotId(), h.createdAt(), d.state(),
                d.devices(), h.memory(), h.isDiff());
        if (verifyMemory) {
            verifyMemoryFile(l, key);
        }
        return l;
    }

    /** Checks the whole memory file (layout, length, MAC) before it is used, naming a Diff's rule on a mismatch. */
    private static void verifyMemoryFile(Loaded l, SnapshotKey key) throws IOException {
        MemoryFile.verify(l.memoryFile(), l.stateFile(), l.memory(), l.config(), l.protection(), key,
                l.diff() ? MemoryFile.DIFF_MISMATCH : MemoryFile.FULL_MISMATCH);
    }

    record Decoded(SnapshotFile.Parsed parsed, VmState state, List<DeviceState> devices) {}

    /** Authenticates and decodes state-file content (everything but the memory file). */
    static Decoded decode(Path stateFile, byte[] content, SnapshotKey key) {
        SnapshotFile.Parsed p = SnapshotFile.read(stateFile, content, key);
        SnapshotHeader h = p.header();
        diffRuns(stateFile, h, p.protection());
        VmState state = null;
        List<DeviceState> devices = new ArrayList<>();
        Set<String> seen = new HashSet<>();
        byte[] payload = p.payload();
        if (h.sections().size() > MAX_SECTIONS) {
            throw new SnapshotException(stateFile, h.sections().size() + " sections, the limit is " + MAX_SECTIONS);
        }
        // Sections tile the payload in order: no overlap, so decoding never copies more than the payload.
        long next = 0;
        for (SnapshotHeader.Section s : h.sections()) {
            if (s == null || s.name() == null || s.offset() != next || s.length() < 0 || s.offset() > payload.length - s.length()) {
                throw new SnapshotException(stateFile, "section " + (s == null ? null : s.name())
                        + " does not follow the previous one inside the payload");
            }
            next = s.offset() + s.length();
            if (!seen.add(s.name())) {
                throw new SnapshotException(stateFile, "section " + s.name() + " appears twice");
            }
            if (s.name().equals("kvm")) {
                state = KvmStateCodec.decode(h.config(), payload, (int) s.offset(), (int) s.length(), stateFile);
            } else if (s.name().startsWith("device/")) {
                byte[] b = Arrays.copyOfRange(payload, (int) s.offset(), (int) (s.offset() + s.length()));
                try {
                    devices.add(DeviceState.of(s.name().substring(7), b));
                } catch (IllegalArgumentException e) {
                    throw new SnapshotException(stateFile, e.getMessage());
                }
            } else {
                throw new SnapshotException(stateFile, "unknown section " + s.name());
            }
        }
        if (next != payload.length) {
            throw new SnapshotException(stateFile, (payload.length - next) + " payload bytes belong to no section");
        }
        if (state == null) {
            throw new SnapshotException(stateFile, "no kvm state section");
        }
        return new Decoded(p, state, List.copyOf(devices));
    }

    /**
     * Checks the kind and, for a Diff, its record: the page runs valid for the configuration
     * ({@link DirtyRuns}) and the diff file as long as RAM. Returns the runs, or null for a Full.
     */
    static DirtyRuns diffRuns(Path stateFile, SnapshotHeader h, Protection p) {
        if (h.kind() != null && !h.kind().equals(SnapshotHeader.FULL) && !h.isDiff()) {
            throw new SnapshotException(stateFile, "unknown snapshot kind '" + h.kind() + "' (full or diff)");
        }
        if (!h.isDiff()) {
            if (h.diff() != null) {
                throw new SnapshotException(stateFile, "a full snapshot with a diff record");
            }
            return null;
        }
        if (h.diff() == null || h.diff().mac() == null) {
            throw new SnapshotException(stateFile, "a diff snapshot without its diff record");
        }
        if (p != Protection.HMAC_SHA256) {
            throw new SnapshotException(stateFile, "an encrypted diff snapshot (diffs are clear only)");
        }
        DirtyRuns runs;
        try {
            runs = new DirtyRuns(h.config().memoryBytes(), h.diff().pages());
        } catch (IllegalArgumentException e) {
            throw new SnapshotException(stateFile, "diff page list: " + e.getMessage());
        }
        if (h.diff().length() != h.config().memoryBytes() || h.memory().length() != h.config().memoryBytes()) {
            throw new SnapshotException(stateFile, "diff length " + h.diff().length() + " is not the guest's "
                    + h.config().memoryBytes() + " bytes of RAM");
        }
        return runs;
    }

    public static Restored restore(Path stateFile, Path memFile, SnapshotKey key) throws IOException {
        return restore(stateFile, memFile, key, m -> { });
    }

    /**
     * Restores a snapshot into a new machine with the recorded configuration: memory from the
     * memory file, KVM state applied, vCPUs not started. {@code beforeState} runs on the new
     * machine before any state is applied: set each vCPU's CPUID there, as for a fresh boot.
     */
    public static Restored restore(Path stateFile, Path memFile, SnapshotKey key, Consumer<Machine> beforeState)
            throws IOException {
        long t0 = System.nanoTime();
        Loaded l = load(stateFile, memFile, key, false);
        MachineConfig cfg = l.config();
        byte[] id = SnapshotFile.hex(stateFile, l.snapshotId(), 16, "snapshot id");
        LazyRestore lazy = LazyRestore.start(l, cfg, key, id);
        if (lazy == null) {
            verifyMemoryFile(l, key);
        }
        long tCreate = System.nanoTime();
        Machine m;
        try {
            m = Machine.create(cfg.toOptions(), o -> lazy != null ? lazy.ram() : ramFor(l, cfg, key, id));
        } catch (RuntimeException e) {
            if (lazy != null) {
                lazy.ram().close();
            }
            throw e;
        }
        if (lazy != null) {
            lazy.attach(m);
        }
        long tApply = System.nanoTime();
        try {
            KvmStateRestore.applyCpuid(m, l.state());
            beforeState.accept(m);
            KvmStateRestore.apply(m, l.state());
        } catch (RuntimeException e) {
            m.close();
            throw e;
        }
        return new Restored(m, l.devices(), Duration.ofNanos(System.nanoTime() - t0), Duration.ofNanos(tCreate - t0),
                Duration.ofNanos(tApply - tCreate));
    }

    private static GuestRam ramFor(Loaded l, MachineConfig cfg, SnapshotKey key, byte[] id) {
        if (l.protection() == Protection.HMAC_SHA256) {
            return MemoryFile.map(l.memoryFile(), cfg);
        }
        try {
            return MemoryFile.decrypt(l.memoryFile(), l.memory(), cfg, key, id);
        } catch (IOException e) {
            throw new SnapshotException(l.memoryFile(), "cannot read: " + e.getMessage(), e);
        }
    }

    /** Applies a loaded snapshot's KVM state to an existing, not yet started machine (refused if incompatible). */
    public static void applyState(Machine m, Loaded l) {
        l.checkCompatible(m.options());
        KvmStateRestore.apply(m, l.state());
    }
}
