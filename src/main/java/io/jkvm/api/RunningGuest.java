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

    /** What each vCPU is doing and its KVM state (jkvm extension, GET /jkvm/vcpus). */
    default io.jkvm.vmm.diag.MachineReport report(java.time.Duration answerTimeout) throws InterruptedException {
        return io.jkvm.vmm.diag.MachineReport.none("this guest cannot report its vCPUs");
    }

    /** The VM as live migration sees it; guests that cannot be migrated refuse with the reason. */
    default io.jkvm.migration.MigrationSource migrationSource() {
        throw ApiException.badRequest("this VM cannot be live-migrated");
    }

    /** Gives the running drive {@code driveId} these limits (PATCH /drives after boot). */
    default void updateDriveRateLimit(String driveId, io.jkvm.resources.RateLimitConfig limit) {
        throw ApiException.badRequest("this VMM cannot change the rate limiter of a running drive");
    }

    /**
     * New rate limits for the network interface on TAP {@code hostDevName}, applied to its
     * virtio-net device at once (and kept for the guest's later boots and snapshots).
     */
    default void updateNetworkRateLimits(String hostDevName, io.jkvm.resources.RateLimitConfig rx,
            io.jkvm.resources.RateLimitConfig tx) {
        throw ApiException.badRequest("this VMM cannot change the rate limiters of a running guest");
    }

    /** The guest's screen, when it has a display device. */
    default java.util.Optional<io.jkvm.display.Framebuffer> framebuffer() {
        return java.util.Optional.empty();
    }

    /** The running guest's balloon device, or null when it has none. */
    default io.jkvm.device.virtio.VirtioBalloon balloon() {
        return null;
    }

    /**
     * A new balloon target (MiB, may be null: unchanged) and statistics interval (0: unchanged),
     * kept for the guest's later boots and snapshots.
     */
    default void updateBalloon(Long amountMib, long statsIntervalS) {
        throw ApiException.badRequest("this VMM cannot change a running balloon");
    }

    /** Saves a snapshot of the paused guest (see {@code LinuxVm#snapshot}); it stays paused. */
    default void snapshot(SnapshotRequest request) throws java.io.IOException, InterruptedException {
        throw ApiException.badRequest("this VMM cannot take snapshots");
    }

    /**
     * Puts the image at {@code path} behind the running drive {@code driveId} (Firecracker's
     * {@code PATCH /drives} after boot); the guest sees a capacity change.
     */
    default void replaceDrive(String driveId, java.nio.file.Path path) throws java.io.IOException {
        throw ApiException.badRequest("this VMM cannot change a running drive's image");
    }
}
