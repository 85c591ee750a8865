package io.jkvm.device.pci;

/**
 * The read-only identification fields of a type-0 configuration header (PCI 3.0 §6.2.1).
 *
 * @param classCode base class in bits 23:16, sub-class 15:8, programming interface 7:0
 */
public record PciId(int vendorId, int deviceId, int classCode, int revision, int subsystemVendorId,
        int subsystemId) {
    public PciId {
        check("vendorId", vendorId, 0xffff);
        check("deviceId", deviceId, 0xffff);
        check("classCode", classCode, 0xff_ffff);
        check("revision", revision, 0xff);
        check("subsystemVendorId", subsystemVendorId, 0xffff);
        check("subsystemId", subsystemId, 0xffff);
        if (vendorId == 0xffff) {
            throw new IllegalArgumentException("vendor ID 0xFFFF means 'no device'");
        }
    }

    public PciId(int vendorId, int deviceId, int classCode) {
        this(vendorId, deviceId, classCode, 0, 0, 0);
    }

    private static void check(String name, int v, int max) {
        if (v < 0 || v > max) {
            throw new IllegalArgumentException(name + " out of range: 0x" + Integer.toHexString(v));
        }
    }
}
