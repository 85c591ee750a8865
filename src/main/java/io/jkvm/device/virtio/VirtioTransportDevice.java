package io.jkvm.device.virtio;

/**
 * What the VMM does with one virtio device whatever its transport (a PCI function or a
 * virtio-mmio window): reach the device model, stop and resume its request processing around
 * a snapshot, save its guest-visible state, and tear it down.
 */
public interface VirtioTransportDevice extends AutoCloseable {
    VirtioDevice device();

    /**
     * The transport-independent half this transport drives: device status, features, queues and
     * request processing (virtio 1.2 §2); the transport adds only its register layout and
     * interrupts. Through it the I/O suspension below is the same for every transport.
     */
    VirtioTransportCore core();

    /**
     * Finishes the request in progress, starts no other and makes disk writes durable
     * ({@link VirtioTransportCore#suspendIo}); call with the vCPUs paused.
     */
    default void suspendIo() throws java.io.IOException {
        core().suspendIo();
    }

    /** Whether {@link #suspendIo} holds this device's I/O (a paused, captured VM's stays so until resume). */
    default boolean ioSuspended() {
        return core().ioSuspended();
    }

    /** Undoes {@link #suspendIo} and re-polls every queue (a kick may have been swallowed meanwhile). */
    default void resumeIo() {
        core().resumeIo();
    }

    /** The transport's state with the device's nested in it; requires {@link #suspendIo} first. */
    Record save();

    @Override
    void close();
}
