package io.jkvm.device.virtio;

import java.util.List;
import java.util.Objects;

/**
 * The transport-independent part of a virtio function's guest-visible state, as
 * {@link VirtioTransportCore} saves and restores it: feature negotiation and status (virtio 1.2
 * §2.1, §2.2), the selected queue, each queue's driver-programmed size, ring addresses and
 * position, and the device model's own record. Not serialised by itself: each transport embeds
 * these fields in its own snapshot record, whose format it owns.
 */
public record VirtioCoreState(int deviceType, int deviceFeatureSelect, int driverFeatureSelect, long driverFeatures,
        int status, int configGeneration, int queueSelect, List<Queue> queues, Record device) {
    public VirtioCoreState {
        queues = List.copyOf(queues);
        Objects.requireNonNull(device, "device state");
    }

    /** One queue; {@code position} is present exactly when the queue is enabled. */
    public record Queue(int size, boolean enabled, long desc, long driver, long device, Virtqueue.Position position) {
        public Queue {
            if (enabled != (position != null)) {
                throw new IllegalArgumentException("a queue has a ring position exactly when it is enabled");
            }
        }
    }
}
