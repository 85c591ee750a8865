package io.jkvm.device.virtio;

/**
 * What the VMM does with one virtio device whatever its transport (a PCI function or a
 * virtio-mmio window): reach the device model, stop and resume its request processing around
 * a snapshot, save its guest-visible state, and tear it down.
 */
public interface VirtioTransportDevice extends AutoCloseable {
    VirtioDevice device();

    /** Finishes the request in progress, starts no other and makes disk writes durable; call with the vCPUs paused. */
    void suspendIo() throws java.io.IOException;

    boolean ioSuspended();

    void resumeIo();

    /** The transport's state with the device's nested in it; requires {@link #suspendIo} first. */
    Record save();

    @Override
    void close();
}
