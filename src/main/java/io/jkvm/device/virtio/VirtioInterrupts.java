package io.jkvm.device.virtio;

/**
 * How a transport tells the driver about device events: the one thing the transport-independent
 * core ({@link VirtioTransportCore}) cannot do itself. PCI uses MSI-X vectors or INTx with the
 * ISR (virtio 1.2 §4.1.4.5); MMIO sets InterruptStatus bits behind one level-triggered line
 * (§4.2.2). Called from the I/O thread or a vCPU thread, never under the core's register lock.
 */
public interface VirtioInterrupts {
    /** A used-buffer notification for queue {@code queue} (§2.7.7). */
    void signalQueue(int queue);

    /** A configuration change notification (§2.5.1), also sent for DEVICE_NEEDS_RESET (§2.1.2). */
    void signalConfigChange();

    /** The device was reset (§2.4): drop pending interrupts, lower the line, forget interrupt routing the driver set. */
    void reset();
}
