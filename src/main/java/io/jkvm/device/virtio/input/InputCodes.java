package io.jkvm.device.virtio.input;

/**
 * The Linux input event codes the virtio-input devices use ({@code linux/input-event-codes.h}):
 * virtio-input carries them unchanged (virtio 1.2 §5.8.6: "the same as the Linux evdev
 * values"), in event types, bitmaps and {@code virtio_input_event}s.
 */
public final class InputCodes {
    private InputCodes() {}

    public static final int EV_SYN = 0x00;
    public static final int EV_KEY = 0x01;
    public static final int EV_REL = 0x02;
    public static final int EV_ABS = 0x03;
    public static final int EV_LED = 0x11;
    public static final int EV_REP = 0x14;
    /** Event types are 0..EV_MAX. */
    public static final int EV_MAX = 0x1f;

    public static final int SYN_REPORT = 0;

    public static final int KEY_ESC = 1;
    /** The highest code of an ordinary keyboard key (the last of the 0..0xff "keyboard" block in use). */
    public static final int KEY_MICMUTE = 248;
    public static final int KEY_MAX = 0x2ff;
    public static final int KEY_CNT = KEY_MAX + 1;
    public static final int BTN_LEFT = 0x110;
    public static final int BTN_RIGHT = 0x111;
    public static final int BTN_MIDDLE = 0x112;

    public static final int REL_WHEEL = 0x08;

    public static final int ABS_X = 0x00;
    public static final int ABS_Y = 0x01;
    public static final int ABS_CNT = 0x40;

    public static final int LED_NUML = 0;
    public static final int LED_CAPSL = 1;
    public static final int LED_SCROLLL = 2;

    public static final int REP_DELAY = 0;
    public static final int REP_PERIOD = 1;

    /** {@code linux/input.h} BUS_VIRTUAL: the bus type of a paravirtual device. */
    public static final int BUS_VIRTUAL = 0x06;

    /** An event packed into one long (type 16 bits, code 16 bits, value 32 bits), as the queues hold it. */
    public static long pack(int type, int code, int value) {
        return ((long) (type & 0xffff) << 48) | ((long) (code & 0xffff) << 32) | (value & 0xffff_ffffL);
    }

    public static int type(long event) {
        return (int) (event >>> 48) & 0xffff;
    }

    public static int code(long event) {
        return (int) (event >>> 32) & 0xffff;
    }

    public static int value(long event) {
        return (int) event;
    }

    public static final long SYN = pack(EV_SYN, SYN_REPORT, 0);
}
