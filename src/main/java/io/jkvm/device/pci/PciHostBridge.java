package io.jkvm.device.pci;

/**
 * The host bridge at 00:00.0: class 06/00/00 ("host bridge", PCI Code and ID Assignment
 * Specification), no BARs and no interrupt. Linux's direct-access probe
 * ({@code pci_sanity_check}) looks for a host bridge or VGA class on bus 0 before trusting
 * configuration mechanism #1, so this function must exist.
 */
public final class PciHostBridge implements PciDevice {
    public static final int VENDOR_INTEL = 0x8086;
    public static final int DEVICE_ID = 0x0d57;
    public static final int CLASS_HOST_BRIDGE = 0x06_00_00;

    private final PciConfigSpace config = new PciConfigSpace(new PciId(VENDOR_INTEL, DEVICE_ID, CLASS_HOST_BRIDGE));

    @Override
    public PciConfigSpace config() {
        return config;
    }
}
