package io.jkvm.arch.x86;

/**
 * One virtio-mmio device as the guest's firmware tables describe it: the guest-physical base of
 * its 4 KiB register window ({@link VirtioMmioSlots#WINDOW}) and the I/O APIC input it drives.
 * The boot path hands a VM's list of these to the ACPI tables (a DSDT device each, plus the MADT
 * override that makes the input level-triggered); a PCI VM's list is empty.
 */
public record VirtioMmioWindow(long base, int gsi) {
    public VirtioMmioWindow {
        // Memory32Fixed can only name windows below 4 GiB (ACPI 6.4 §6.4.3.4).
        if (base < 0 || base % VirtioMmioSlots.WINDOW != 0 || base + VirtioMmioSlots.WINDOW > Layout.FOUR_GIB) {
            throw new IllegalArgumentException(String.format("virtio-mmio window base 0x%x is not a 4 KiB-aligned"
                    + " address below 4 GiB", base));
        }
        if (gsi < 0 || gsi >= Layout.IOAPIC_PINS) {
            throw new IllegalArgumentException("virtio-mmio GSI " + gsi + " is not an I/O APIC input (0.."
                    + (Layout.IOAPIC_PINS - 1) + ")");
        }
    }

    /** The window of virtio-mmio slot {@code i} ({@link VirtioMmioSlots}). */
    public static VirtioMmioWindow ofSlot(int i) {
        return new VirtioMmioWindow(VirtioMmioSlots.base(i), VirtioMmioSlots.gsi(i));
    }
}
