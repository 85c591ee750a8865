package io.jkvm.device.virtio;

import io.jkvm.snapshot.DeviceMismatchException;
import io.jkvm.snapshot.Persist;
import io.jkvm.snapshot.RecordCodec;

/**
 * A virtio device model (virtio 1.2 §5), independent of the transport. The transport (its
 * shared part {@link VirtioTransportCore} and the PCI or MMIO register file around it) owns
 * feature negotiation, status, queues, interrupts and the I/O thread; the device supplies
 * identity, features, config space and request processing.
 *
 * <p><b>Threads.</b> {@link #queueNotified} and handlers registered with
 * {@link VirtioContext#watch} run on the device's I/O thread. {@link #activate} and
 * {@link #reset} run on a vCPU thread; the transport guarantees none of these overlap (it holds
 * the device lock around each). {@link #readConfig} may run on a vCPU thread at any time and
 * must only read state that is safe to read concurrently.
 */
public interface VirtioDevice extends AutoCloseable, Persist<Record> {
    /** Virtio device ID (§5): 1 net, 2 block, 3 console, 4 entropy, 5 memory balloon. */
    int deviceType();

    /** PCI class code (base, sub, prog-if) for the function. */
    int pciClassCode();

    int queueCount();

    /** Maximum (and initial) size of queue {@code index}; a power of two. */
    int queueMaxSize(int index);

    /** Device-specific feature bits offered (transport bits are added by the transport). */
    long deviceFeatures();

    /** Size of the device-specific configuration structure. */
    int configSize();

    /** Bytes {@code [offset, offset + dst.length)} of the device configuration (in range). */
    void readConfig(int offset, byte[] dst);

    /** A driver write to the device configuration (in range); most fields are read-only. */
    default void writeConfig(int offset, byte[] src) {}

    /** DRIVER_OK was set: queues are live, features negotiated (§3.1.1). */
    void activate(VirtioContext context);

    /**
     * The driver kicked queue {@code index} (or the transport re-polls it after activation).
     *
     * @throws VirtqueueException if the queue is corrupt; the transport sets NEEDS_RESET
     */
    void queueNotified(int index) throws VirtqueueException;

    /** Forget all driver-visible state (§2.4); called with queues already reset. */
    void reset();

    /**
     * Snapshot support. Called with the device's I/O stopped (the transport holds the device
     * lock and runs no handler): make what was acknowledged durable (a disk fsyncs).
     */
    default void quiesce() throws java.io.IOException {}

    /** The state of a device that keeps nothing beyond the transport's (virtio-rng). */
    record NoState() {
        public static final RecordCodec<NoState> CODEC = RecordCodec.of("virtio-none", NoState.class, (s, w) -> { },
                r -> new NoState());
    }

    /**
     * Device-specific state beyond the transport's (called after {@link #quiesce}), e.g. chains
     * the device holds: a record with a registered codec, declared in the device's class.
     * The transport saves it inside its own state ({@code VirtioPciState}).
     */
    @Override
    default Record save() {
        return new NoState();
    }

    /**
     * The second half of a restore, for what needs live queues: applies a {@link #save} state
     * after {@link #activate} on a restored transport (queues enabled and positioned), or with
     * the device inactive when {@code active} is false. Refuses a state of another device or one
     * inconsistent with this device with {@link DeviceMismatchException}.
     */
    default void restoreState(Record state, boolean active) {
        stateOf(state, NoState.class, "virtio device type " + deviceType());
    }

    /** {@code state} as a {@code type}, or a DeviceMismatchException naming {@code device}. */
    static <S extends Record> S stateOf(Record state, Class<S> type, String device) {
        if (!type.isInstance(state)) {
            throw new DeviceMismatchException(device, "holds a " + state.getClass().getSimpleName() + " state, expected a "
                    + type.getName().substring(type.getPackageName().length() + 1).replace('$', '.'));
        }
        return type.cast(state);
    }

    /** Releases host resources (files, fds, threads). */
    @Override
    default void close() {}
}
