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

    /**
     * The VM as live migration sees it. Guests that cannot be migrated refuse with the reason
     * (a Linux VM needs LinuxVm.captureDeviceStates, which is not on this branch yet).
     */
    default io.jkvm.migration.MigrationSource migrationSource() {
        throw ApiException.badRequest("this VM cannot be live-migrated: capturing its device state is not supported yet");
    }
}
