package io.jkvm.display;

/**
 * Where a display client's keyboard and pointer go: the VM's input devices (virtio-input
 * keyboard and tablet). Key codes are Linux input event codes ({@code KEY_*} of
 * {@code linux/input-event-codes.h}); translating from a client's own codes (X keysyms for RFB,
 * KeyboardEvent.code in a browser) is the client side's job.
 *
 * <p>Calls come from client threads, never from vCPU threads; implementations queue the events
 * for the guest and never block on the guest (a guest that posts no buffers loses events, it
 * does not stall the client).
 */
public interface InputSink {
    /** A key went down or up. Unknown codes (outside 1..KEY_MAX 0x2ff) are ignored. */
    void key(int linuxKeyCode, boolean down);

    /**
     * The pointer is at ({@code x}, {@code y}) on a screen {@code width} x {@code height} pixels
     * (the guest's current mode as the client saw it; coordinates are clamped into it and scaled
     * to the tablet's axis range), with the buttons in {@code buttons} held: bit 0 left, bit 1
     * middle, bit 2 right, as in RFB PointerEvent. Wheel steps are {@link #wheel}.
     */
    void pointer(int x, int y, int width, int height, int buttons);

    /** Vertical wheel: positive steps up, negative down. */
    void wheel(int steps);

    /** Input that goes nowhere (a VM without input devices). */
    InputSink NONE = new InputSink() {
        @Override
        public void key(int linuxKeyCode, boolean down) {}

        @Override
        public void pointer(int x, int y, int width, int height, int buttons) {}

        @Override
        public void wheel(int steps) {}
    };
}
