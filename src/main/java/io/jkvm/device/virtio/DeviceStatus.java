package io.jkvm.device.virtio;

/** Bits of the device status field (virtio 1.2 §2.1). */
public final class DeviceStatus {
    private DeviceStatus() {}

    public static final int ACKNOWLEDGE = 1;
    public static final int DRIVER = 2;
    public static final int DRIVER_OK = 4;
    public static final int FEATURES_OK = 8;
    /** Set by the device when it hit an unrecoverable error; only a reset clears it (§2.1.2). */
    public static final int DEVICE_NEEDS_RESET = 64;
    public static final int FAILED = 128;

    /** Bits the driver may set. */
    public static final int DRIVER_BITS = ACKNOWLEDGE | DRIVER | DRIVER_OK | FEATURES_OK | FAILED;
}
