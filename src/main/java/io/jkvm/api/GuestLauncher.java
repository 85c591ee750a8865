package io.jkvm.api;

/**
 * Boots a validated {@link GuestSpec}: the seam between the API's state machine and the VMM, so
 * the API can be exercised (property tests) without KVM. Throws {@link ApiException} when the
 * guest cannot boot (a kernel that does not load, KVM refusing the machine).
 */
public interface GuestLauncher {
    RunningGuest launch(GuestSpec spec);

    /**
     * Restores a snapshot into a new guest, its vCPUs running ({@code resume}) or paused.
     * Returns the guest and the configuration recorded in the snapshot.
     */
    default Restored restore(SnapshotRequest request, boolean resume) {
        throw ApiException.badRequest("this VMM cannot load snapshots");
    }

    /** A guest restored from a snapshot, with the configuration the snapshot recorded. */
    record Restored(RunningGuest guest, io.jkvm.config.VmConfig config) {}
}
