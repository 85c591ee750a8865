package io.jkvm.device.virtio.input;

import io.jkvm.display.InputSink;

import static io.jkvm.device.virtio.input.InputCodes.*;

/**
 * A display client's input turned into event groups for a virtio-input keyboard and tablet.
 * Each call becomes at most one group, ended by SYN_REPORT when it is queued; the devices leave
 * out what changes nothing (a button still held, the pointer where it was). Calls never block.
 * Keys go to the keyboard when it announces them, else to the tablet (mouse buttons sent as
 * keys); codes neither announces are ignored.
 */
final class VirtioInputSink implements InputSink {
    private final VirtioInput keyboard;
    private final VirtioInput tablet;

    VirtioInputSink(VirtioInput keyboard, VirtioInput tablet) {
        this.keyboard = keyboard;
        this.tablet = tablet;
    }

    @Override
    public void key(int linuxKeyCode, boolean down) {
        if (linuxKeyCode < 1 || linuxKeyCode > KEY_MAX) {
            return;
        }
        long e = pack(EV_KEY, linuxKeyCode, down ? 1 : 0);
        if (keyboard != null && keyboard.profile().supports(EV_KEY, linuxKeyCode)) {
            keyboard.offer(e);
        } else if (tablet != null) {
            tablet.offer(e);
        }
    }

    @Override
    public void pointer(int x, int y, int width, int height, int buttons) {
        if (tablet == null || width <= 0 || height <= 0) {
            return;
        }
        tablet.offer(pack(EV_ABS, ABS_X, scale(x, width)), pack(EV_ABS, ABS_Y, scale(y, height)),
                pack(EV_KEY, BTN_LEFT, buttons & 1), pack(EV_KEY, BTN_MIDDLE, (buttons >> 1) & 1),
                pack(EV_KEY, BTN_RIGHT, (buttons >> 2) & 1));
    }

    /** {@code v} clamped into 0..size-1 and mapped so 0 is the axis minimum and size-1 its maximum. */
    static int scale(int v, int size) {
        if (size <= 1) {
            return 0;
        }
        long c = Math.clamp(v, 0, size - 1);
        return (int) ((c * InputProfile.TABLET_MAX + (size - 1) / 2) / (size - 1));
    }

    @Override
    public void wheel(int steps) {
        if (tablet != null && steps != 0) {
            tablet.offer(pack(EV_REL, REL_WHEEL, steps));
        }
    }
}
