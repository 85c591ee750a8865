package io.jkvm.device.virtio.pci;

import io.jkvm.device.virtio.EventFd;

/**
 * Binds a queue-notify address to an eventfd in the hypervisor (KVM_IOEVENTFD), so a guest
 * kick wakes the device's I/O thread without a userspace exit and without running device code
 * on the vCPU thread. When binding is impossible the transport handles the MMIO write itself
 * by signalling the same eventfd, so devices see one mechanism either way.
 */
@FunctionalInterface
public interface NotifyRegistrar {
    /** A binding to undo. */
    interface Binding extends AutoCloseable {
        @Override
        void close();
    }

    /**
     * Arranges that guest writes of {@code length} bytes at guest-physical {@code address}
     * signal {@code eventFd}; returns null if that is not possible here.
     */
    Binding bind(long address, int length, EventFd eventFd);

    /**
     * As {@link #bind(long, int, EventFd)}, but only writes of exactly {@code datamatch} signal
     * {@code eventFd}: how transports whose queues share one notify register (virtio-mmio
     * QueueNotify, virtio 1.2 §4.2.2) give each queue its own eventfd. Null if not possible here.
     */
    default Binding bind(long address, int length, long datamatch, EventFd eventFd) {
        return null;
    }

    /** No hypervisor help: every kick arrives as an MMIO write. */
    NotifyRegistrar NONE = (address, length, eventFd) -> null;
}
