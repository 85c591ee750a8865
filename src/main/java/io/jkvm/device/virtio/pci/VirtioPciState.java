package io.jkvm.device.virtio.pci;

import io.jkvm.device.virtio.Virtqueue;

import java.util.List;

/**
 * Everything guest-visible of one virtio-pci function, for snapshots and migration: its PCI
 * configuration space, MSI-X table, the common configuration registers (virtio 1.2 §4.1.4.3),
 * the ISR (§4.1.4.5), each queue's driver-programmed values and ring position, and the
 * device model's own state ({@link io.jkvm.device.virtio.VirtioDevice#saveState}).
 * Captured with the device's I/O stopped, so no request is in flight.
 *
 * <p>The record only checks shapes; {@link VirtioPciDevice#restoreState} checks the values
 * against the device it is applied to (features offered, queue sizes, vectors, guest RAM).
 */
public record VirtioPciState(int deviceType, byte[] pciConfig, MsixTable.State msix, int deviceFeatureSelect,
        int driverFeatureSelect, long driverFeatures, int status, int configGeneration, int queueSelect,
        int msixConfig, int isr, List<Queue> queues, byte[] deviceState) {

    /** One queue: §4.1.4.3 queue_size/msix_vector/enable/desc/driver/device, and its ring position if enabled. */
    public record Queue(int size, int msixVector, boolean enabled, long desc, long driver, long device,
            Virtqueue.Position position) {
        public Queue {
            if (size < 1 || size > Virtqueue.MAX_SIZE || Integer.bitCount(size) != 1) {
                throw new IllegalArgumentException("queue size " + size + " is not a power of two in 1.."
                        + Virtqueue.MAX_SIZE);
            }
            if (msixVector < 0 || msixVector > 0xffff) {
                throw new IllegalArgumentException("queue MSI-X vector " + msixVector + " is not a u16");
            }
            if (enabled != (position != null)) {
                throw new IllegalArgumentException("a queue has a ring position exactly when it is enabled");
            }
        }
    }

    public VirtioPciState {
        pciConfig = pciConfig.clone();
        deviceState = deviceState.clone();
        queues = List.copyOf(queues);
        if (status < 0 || status > 0xff) {
            throw new IllegalArgumentException("device status " + status + " is not a byte");
        }
        if (configGeneration < 0 || configGeneration > 0xff) {
            throw new IllegalArgumentException("config generation " + configGeneration + " is not a byte");
        }
        for (int v : new int[] {queueSelect, msixConfig}) {
            if (v < 0 || v > 0xffff) {
                throw new IllegalArgumentException("queue_select/msix_config " + v + " is not a u16");
            }
        }
        if ((isr & ~3) != 0) {
            throw new IllegalArgumentException("ISR " + isr + " has bits other than queue (1) and config (2)");
        }
    }

    @Override
    public byte[] pciConfig() {
        return pciConfig.clone();
    }

    @Override
    public byte[] deviceState() {
        return deviceState.clone();
    }
}
