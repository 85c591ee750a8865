package io.jkvm.display.vnc;

import io.jkvm.display.InputSink;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/** Input events as text lines, for tests to await in order. */
final class RecordingInput implements InputSink {
    private final BlockingQueue<String> events = new LinkedBlockingQueue<>();

    @Override
    public void key(int linuxKeyCode, boolean down) {
        events.add("key " + linuxKeyCode + (down ? " down" : " up"));
    }

    @Override
    public void pointer(int x, int y, int width, int height, int buttons) {
        events.add("pointer " + x + "," + y + " in " + width + "x" + height + " buttons " + buttons);
    }

    @Override
    public void wheel(int steps) {
        events.add("wheel " + steps);
    }

    String next() throws InterruptedException {
        String e = events.poll(20, TimeUnit.SECONDS);
        if (e == null) {
            throw new AssertionError("no input event arrived");
        }
        return e;
    }
}
