package io.jkvm.device.virtio.mmio;

/**
 * The virtio-mmio version 2 ("modern") register file, virtio 1.2 §4.2.2 table 4.1: offsets
 * from the device's base address. Control registers are 32 bits wide and accessed 32 bits
 * aligned (§4.2.2.2); the device configuration starts at {@link #CONFIG}.
 */
public final class VirtioMmioLayout {
    private VirtioMmioLayout() {}

    /** "virt" in little-endian. */
    public static final int MAGIC = 0x7472_6976;
    /** Version 2: the virtio 1.x layout (version 1 is the legacy one, not offered). */
    public static final int VERSION = 2;
    /** Size of one device's window; Linux's virtio_mmio.device= and Firecracker use 4 KiB. */
    public static final long WINDOW = 0x1000;

    public static final int MAGIC_VALUE = 0x000;
    public static final int VERSION_REG = 0x004;
    public static final int DEVICE_ID = 0x008;
    public static final int VENDOR_ID = 0x00c;
    public static final int DEVICE_FEATURES = 0x010;
    public static final int DEVICE_FEATURES_SEL = 0x014;
    public static final int DRIVER_FEATURES = 0x020;
    public static final int DRIVER_FEATURES_SEL = 0x024;
    public static final int QUEUE_SEL = 0x030;
    public static final int QUEUE_NUM_MAX = 0x034;
    public static final int QUEUE_NUM = 0x038;
    public static final int QUEUE_READY = 0x044;
    public static final int QUEUE_NOTIFY = 0x050;
    public static final int INTERRUPT_STATUS = 0x060;
    public static final int INTERRUPT_ACK = 0x064;
    public static final int STATUS = 0x070;
    public static final int QUEUE_DESC_LOW = 0x080;
    public static final int QUEUE_DESC_HIGH = 0x084;
    public static final int QUEUE_DRIVER_LOW = 0x090;
    public static final int QUEUE_DRIVER_HIGH = 0x094;
    public static final int QUEUE_DEVICE_LOW = 0x0a0;
    public static final int QUEUE_DEVICE_HIGH = 0x0a4;
    public static final int SHM_SEL = 0x0ac;
    public static final int SHM_LEN_LOW = 0x0b0;
    public static final int SHM_LEN_HIGH = 0x0b4;
    public static final int SHM_BASE_LOW = 0x0b8;
    public static final int SHM_BASE_HIGH = 0x0bc;
    public static final int CONFIG_GENERATION = 0x0fc;
    public static final int CONFIG = 0x100;
    /** Device configuration space that fits the window. */
    public static final int CONFIG_MAX = (int) WINDOW - CONFIG;

    /** InterruptStatus bits (§4.2.2): a used buffer, a configuration change. */
    public static final int INT_VRING = 1;
    public static final int INT_CONFIG = 2;

    /** Queues a device may have here: QueueSel is 32 bits, but jkvm devices have a handful. */
    public static final int MAX_QUEUES = 64;

    /**
     * The Linux kernel parameter that declares one device: {@code virtio_mmio.device=<size>@<base>:<irq>}
     * (drivers/virtio/virtio_mmio.c, enabled by CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES).
     */
    public static String kernelParameter(long base, int gsi) {
        return "virtio_mmio.device=4K@0x" + Long.toHexString(base) + ":" + gsi;
    }
}
