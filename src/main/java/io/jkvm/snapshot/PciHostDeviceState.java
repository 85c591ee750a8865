package io.jkvm.snapshot;

import io.jkvm.device.pci.PciConfigIo;
import io.jkvm.device.pci.PciConfigSpace;

/**
 * {@link DeviceState} codec for the PCI host side: configuration mechanism #1's CONFIG_ADDRESS
 * latch (port 0xCF8, PCI 3.0 §3.2.2.3.2) and the host bridge's 256-byte configuration space.
 * Version 1, i32 address, 256 bytes. The config space is checked against the bridge's
 * read-only bits on restore ({@link PciConfigSpace#restoreBytes}).
 */
public final class PciHostDeviceState {
    private PciHostDeviceState() {}

    static final int VERSION = 1;

    public static DeviceState capture(String name, PciConfigIo io, PciConfigSpace bridge) {
        return DeviceState.of(name, new StateWriter().u8(VERSION).i32(io.address()).blob(bridge.bytes()).toByteArray());
    }

    public static void apply(DeviceState s, PciConfigIo io, PciConfigSpace bridge) {
        byte[] b = s.bytes();
        BoundedReader r = new BoundedReader(b, 0, b.length, null, "device " + s.name());
        r.version(VERSION, "PCI host state");
        int address = r.i32("CONFIG_ADDRESS");
        byte[] cfg = r.blob("host bridge config space", PciConfigSpace.SIZE);
        r.expectEnd();
        try {
            bridge.restoreBytes(cfg);
        } catch (IllegalArgumentException e) {
            throw r.fail(e.getMessage());
        }
        io.setAddress(address);
    }
}
