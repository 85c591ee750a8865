package io.jkvm.device.virtio;

import io.jkvm.memory.GuestMemory;

/**
 * What the transport gives an activated device: negotiated features, live queues, interrupts
 * and the I/O thread. Valid from {@link VirtioDevice#activate} until the next reset; watches
 * registered here are removed by the transport on reset.
 */
public interface VirtioContext {
    GuestMemory memory();

    long features();

    default boolean hasFeature(int bit) {
        return VirtioFeatures.has(features(), bit);
    }

    Virtqueue queue(int index);

    /** Sends a used-buffer notification for queue {@code index} (MSI-X vector or INTx + ISR bit 0). */
    void notifyQueue(int index);

    /** Device configuration changed: bumps config_generation and notifies the driver (§2.5.1). */
    void configChanged();

    /** Handles a request-independent device failure: sets DEVICE_NEEDS_RESET (§2.1.2). */
    void fail(String reason);

    /**
     * Watches {@code fd} on the device's I/O thread. The handler runs under the device lock
     * and only while the device is live; a {@link VirtqueueException} from it breaks the device.
     */
    EventLoop.Watch watch(int fd, short events, IoHandler handler);

    /** Runs {@link VirtioDevice#queueNotified} for {@code index} soon on the I/O thread. */
    void kick(int index);

    /** A handler for {@link #watch}. */
    @FunctionalInterface
    interface IoHandler {
        void ready(short revents) throws VirtqueueException;
    }

    /** Computes the used length for one chain. */
    @FunctionalInterface
    interface ChainHandler {
        int handle(DescriptorChain chain) throws VirtqueueException;
    }

    /**
     * The usual request loop (§2.7.13.4 device side): pop every available chain, complete each
     * with the handler's used length, re-arm notifications and repeat if more arrived, then
     * notify the driver once if it asked for it.
     */
    default void drain(int index, ChainHandler handler) throws VirtqueueException {
        Virtqueue q = queue(index);
        do {
            DescriptorChain c;
            while ((c = q.pop()) != null) {
                q.addUsed(c.head(), handler.handle(c));
            }
        } while (q.rearm());
        if (q.needsInterrupt()) {
            notifyQueue(index);
        }
    }
}
