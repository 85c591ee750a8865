package io.jkvm.device.msi;

/**
 * One MSI/MSI-X message a device can send: the address/data pair the guest programmed and a way
 * to deliver it from any thread without blocking.
 */
public interface MsiVector extends AutoCloseable {
    /** The message to deliver from now on (PCI 3.0 §6.8.2.4: Message Address/Data). */
    void setMessage(long address, int data);

    /** Delivers the current message once; callable from any thread. */
    void fire();

    @Override
    void close();
}
