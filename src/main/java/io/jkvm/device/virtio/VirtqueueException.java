package io.jkvm.device.virtio;

/**
 * The driver corrupted a virtqueue's rings or descriptor graph (loop, index out of range,
 * nested indirect table, avail index running ahead, rings outside RAM...). Such a queue cannot
 * be trusted further: the transport sets DEVICE_NEEDS_RESET (virtio 1.2 §2.1.2) and the device
 * stops processing until the driver resets it. Never escapes to a vCPU thread.
 */
public final class VirtqueueException extends Exception {
    public VirtqueueException(String message) {
        super(message);
    }
}
