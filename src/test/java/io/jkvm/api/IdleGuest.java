package io.jkvm.api;

import io.jkvm.vmm.VmMetrics;

import java.util.Map;

/**
 * A started guest for API tests that need none: pause and resume are remembered, Ctrl+Alt+Del is
 * accepted, metrics are empty. Tests override what they observe (drive swaps, limiter updates...).
 */
class IdleGuest implements RunningGuest {
    private volatile boolean paused;

    @Override
    public void pause() {
        paused = true;
    }

    @Override
    public void resume() {
        paused = false;
    }

    @Override
    public boolean isPaused() {
        return paused;
    }

    @Override
    public boolean sendCtrlAltDel() {
        return true;
    }

    @Override
    public VmMetrics metrics() {
        return new VmMetrics(1, 1, Map.of(), Map.of(), 1);
    }
}
