package io.jkvm.api;

import io.jkvm.vmm.VmMetrics;

/** A started guest as the API controls it. Calls come from API threads, never vCPU threads. */
public interface RunningGuest {
    void pause() throws InterruptedException;

    void resume();

    boolean isPaused();

    /** Ctrl+Alt+Del on the guest's keyboard; false if the keys could not be queued. */
    boolean sendCtrlAltDel();

    VmMetrics metrics();
}
