package io.jkvm.snapshot;

/**
 * {@link DeviceState} codec for the ACPI hardware-reduced PM registers: version 1 and nothing
 * else. The sleep control, sleep status and reset registers hold no state between accesses
 * (SLP_EN and the reset value act at once, ACPI 6.4 §4.8.3.7-4.8.3.8; reads return 0), so
 * the record exists to pin the device's presence and version in the snapshot.
 */
public final class AcpiPmDeviceState {
    private AcpiPmDeviceState() {}

    static final int VERSION = 1;

    public static DeviceState capture(String name) {
        return DeviceState.of(name, new byte[] {VERSION});
    }

    public static void apply(DeviceState s) {
        byte[] b = s.bytes();
        BoundedReader r = new BoundedReader(b, 0, b.length, null, "device " + s.name());
        r.version(VERSION, "ACPI PM state");
        r.expectEnd();
    }
}
