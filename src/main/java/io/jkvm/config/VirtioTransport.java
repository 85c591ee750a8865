package io.jkvm.config;

/**
 * How a VM's virtio devices reach the guest: as PCI functions (virtio 1.2 §4.1, found by PCI
 * enumeration, MSI-X), or as virtio-mmio windows (§4.2) declared both in the ACPI DSDT (for
 * stock kernels) and on the kernel command line (for Firecracker-style kernels without ACPI,
 * which need CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES).
 */
public enum VirtioTransport {
    PCI("pci"),
    MMIO("mmio");

    private final String flagValue;

    VirtioTransport(String flagValue) {
        this.flagValue = flagValue;
    }

    /** The name on the command line and in messages. */
    public String flagValue() {
        return flagValue;
    }

    /** {@code value} of option {@code flag}; refused naming the flag. */
    public static VirtioTransport parse(String flag, String value) {
        for (VirtioTransport t : values()) {
            if (t.flagValue.equals(value)) {
                return t;
            }
        }
        throw new ConfigException(flag + " " + value + ": must be pci or mmio");
    }
}
