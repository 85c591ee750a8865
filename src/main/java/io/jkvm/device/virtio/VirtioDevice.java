package io.jkvm.device.virtio;

/**
 * A virtio device model (virtio 1.2 §5), independent of the transport. The transport
 * ({@code VirtioPciDevice}) owns feature negotiation, status, queues, interrupts and the I/O
 * thread; the device supplies identity, features, config space and request processing.
 *
 * <p><b>Threads.</b> {@link #queueNotified} and handlers registered with
 * {@link VirtioContext#watch} run on the device's I/O thread. {@link #activate} and
 * {@link #reset} run on a vCPU thread; the transport guarantees none of these overlap (it holds
 * the device lock around each). {@link #readConfig} may run on a vCPU thread at any time and
 * must only read state that is safe to read concurrently.
 */
public interface VirtioDevice extends AutoCloseable {
    /** Virtio device ID (§5): 1 net, 2 block, 3 console, 4 entropy. */
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

    /**
     * Device-specific state beyond the transport's (called after {@link #quiesce}), e.g. chains
     * the device holds; empty for stateless devices. Decoded by {@link #restoreState}.
     */
    default byte[] saveState() {
        return new byte[0];
    }

    /**
     * Applies {@link #saveState} bytes after {@link #activate} on a restored transport (queues
     * enabled and positioned), or with the device inactive when {@code active} is false. Must
     * refuse anything malformed or inconsistent with IllegalArgumentException.
     */
    default void restoreState(byte[] state, boolean active) {
        if (state.length != 0) {
            throw new IllegalArgumentException("virtio device type " + deviceType() + " has no state, got "
                    + state.length + " bytes");
        }
    }

    /** Releases host resources (files, fds, threads). */
    @Override
    default void close() {}
}
