package io.jkvm.device.pci;

/**
 * Told when the address a BAR decodes changes, so the VMM can move the device's range on the
 * port I/O or MMIO bus.
 *
 * <p>A BAR decodes only while its space is enabled in the command register (I/O or memory
 * space enable; PCI 3.0 §6.2.2); otherwise its address is {@link PciBar#UNMAPPED}. Linux sizes
 * BARs with decoding disabled, so the all-ones probe values are not reported. A 64-bit BAR
 * rewritten while decoding is enabled is reported after each dword, so an intermediate address
 * can be seen. Addresses are guest-chosen: they may be unaligned to anything but the BAR size,
 * overlap other devices or RAM, or wrap past the end of the address space; the listener must
 * cope (e.g. skip the mapping and log) and must not throw.
 *
 * <p>Called on the vCPU thread doing the config write, while the device's config space lock is
 * held; it must not access that device's config space from another thread and wait for it.
 */
@FunctionalInterface
public interface BarRemapListener {
    void onBarRemap(PciBar bar, long oldAddress, long newAddress);

    BarRemapListener NONE = (bar, oldAddress, newAddress) -> {};
}
