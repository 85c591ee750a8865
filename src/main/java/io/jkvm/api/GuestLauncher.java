package io.jkvm.api;

/**
 * Boots a validated {@link GuestSpec}: the seam between the API's state machine and the VMM, so
 * the API can be exercised (property tests) without KVM. Throws {@link ApiException} when the
 * guest cannot boot (a kernel that does not load, KVM refusing the machine).
 */
public interface GuestLauncher {
    RunningGuest launch(GuestSpec spec);

    /**
     * Creates the destination of an incoming live migration of a machine shaped like
     * {@code source}: fresh RAM, filled and given KVM state by the migration, then devices
     * ({@link io.jkvm.migration.MigrationTarget#restoreDevices}) and
     * {@link io.jkvm.migration.MigrationTarget#start()}, after which {@code started} gets the
     * running guest. The devices are {@code own}'s (this VMM's configuration, already checked
     * against the source's shape), or, when {@code own} is null, those of the configuration the
     * source recorded. Launchers that cannot restore device state refuse with the reason.
     */
    default io.jkvm.migration.MigrationTarget receive(io.jkvm.snapshot.MachineConfig source,
            io.jkvm.config.VmConfig own, java.util.function.Consumer<RunningGuest> started) {
        throw new io.jkvm.migration.MigrationException("this VMM cannot receive migrated VMs");
    }

    /**
     * Restores a snapshot into a new guest, its vCPUs running ({@code resume}) or paused.
     * Returns the guest and the configuration recorded in the snapshot. When the snapshot
     * recorded an MMDS binding, the restored interfaces answer for it from {@code mmds} (this
     * VMM's store, which takes the recorded version and compatibility).
     */
    default Restored restore(SnapshotRequest request, boolean resume, io.jkvm.mmds.MmdsStore mmds) {
        throw ApiException.badRequest("this VMM cannot load snapshots");
    }

    /** A guest restored from a snapshot, with the configuration (and MMDS binding, or null) the snapshot recorded. */
    record Restored(RunningGuest guest, io.jkvm.config.VmConfig config, io.jkvm.mmds.MmdsState mmds) {
        public Restored(RunningGuest guest, io.jkvm.config.VmConfig config) {
            this(guest, config, null);
        }
    }
}
