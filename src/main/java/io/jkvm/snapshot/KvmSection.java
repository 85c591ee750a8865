package io.jkvm.snapshot;

import io.jkvm.vmm.Machine;

import java.nio.file.Path;

/**
 * The snapshot's "kvm" section (all KVM state of a paused machine, {@link KvmStateCodec}) for users
 * outside snapshot files: live migration sends exactly these bytes and the destination applies
 * them as a restore does.
 */
public final class KvmSection {
    private KvmSection() {}

    /** Longest encoded section accepted from an untrusted peer (64 fields of at most 1 MiB). */
    public static final int MAX_BYTES = KvmStateCodec.MAX_FIELDS * (KvmStateCodec.MAX_FIELD_BYTES + 128);

    /** Captures and encodes a quiescent machine's KVM state. */
    public static byte[] capture(Machine m) {
        if (!m.isQuiescent()) {
            throw new SnapshotException("the machine must be paused (Machine.pause()) before its state is captured");
        }
        return KvmStateCodec.encode(KvmStateCapture.capture(m));
    }

    /** Decodes untrusted bytes for a machine of {@code config}; {@code source} names them in errors. */
    public static VmState decode(MachineConfig config, byte[] bytes, String source) {
        return KvmStateCodec.decode(config, bytes, 0, bytes.length, Path.of(source));
    }

    /** Applies decoded state to a created, not started machine: CPUID first, then the rest (see {@link KvmStateRestore}). */
    public static void apply(Machine m, VmState state) {
        KvmStateRestore.checkApplicable(m, state);
        KvmStateRestore.applyCpuid(m, state);
        KvmStateRestore.apply(m, state);
    }
}
