package io.jkvm.display;

import java.util.Objects;

/**
 * An {@link InputSink} that outlives the devices behind it: a VM rebuilds its input devices with
 * each machine (a guest reboot under on-reboot=restart), while a VNC client stays connected to
 * the VM. Input between two machines goes nowhere.
 */
public final class SwitchableInputSink implements InputSink {
    private volatile InputSink target = InputSink.NONE;

    /** Input goes to {@code sink} from now on ({@link InputSink#NONE}: nowhere). */
    public void switchTo(InputSink sink) {
        target = Objects.requireNonNull(sink, "sink");
    }

    @Override
    public void key(int linuxKeyCode, boolean down) {
        target.key(linuxKeyCode, down);
    }

    @Override
    public void pointer(int x, int y, int width, int height, int buttons) {
        target.pointer(x, y, width, height, buttons);
    }

    @Override
    public void wheel(int steps) {
        target.wheel(steps);
    }
}
