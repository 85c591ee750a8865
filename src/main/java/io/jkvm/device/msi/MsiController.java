package io.jkvm.device.msi;

/**
 * Hands out {@link MsiVector}s to device models. The KVM implementation is
 * {@link KvmMsiController} (GSI route + irqfd per vector); tests use an in-memory one.
 */
public interface MsiController {
    MsiVector allocate();
}
