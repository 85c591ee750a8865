package io.jkvm.vmm;

import io.jkvm.kvm.Native;

/**
 * Puts the controlling terminal on stdin into raw mode while a guest owns the console (so
 * Ctrl-C, arrows and line editing go to the guest), and restores it on close or JVM exit.
 */
public final class RawTerminal implements AutoCloseable {
    private final byte[] saved;
    private final Thread restoreHook;

    private RawTerminal(byte[] saved) {
        this.saved = saved;
        this.restoreHook = new Thread(this::restore, "restore-terminal");
        Runtime.getRuntime().addShutdownHook(restoreHook);
    }

    /** Enters raw mode if stdin is a terminal; returns null (and changes nothing) otherwise. */
    public static RawTerminal enterIfTty() {
        if (!Native.isatty(0)) {
            return null;
        }
        byte[] current = Native.tcgetattr(0);
        if (current == null) {
            return null;
        }
        RawTerminal t = new RawTerminal(current);
        byte[] raw = Native.cfmakeraw(current);
        if (!Native.tcsetattr(0, raw)) {
            t.close();
            return null;
        }
        return t;
    }

    private void restore() {
        Native.tcsetattr(0, saved);
    }

    @Override
    public void close() {
        restore();
        try {
            Runtime.getRuntime().removeShutdownHook(restoreHook);
        } catch (IllegalStateException e) {
            // JVM already shutting down: the hook restores.
        }
    }
}
