package io.jkvm.api;

import io.jkvm.api.VmmAction.*;

/**
 * What a VM takes before boot: configuration, InstanceStart, a snapshot load and reads.
 * Everything that needs a running guest is refused here, by the exhaustive switch, with Firecracker's "not supported before starting" naming the action.
 */
final class PreBootHandler {
    private final VmmController vmm;
    private final VmConfiguration config;
    private final GuestLauncher launcher;
    private final EventLog log;

    PreBootHandler(VmmController vmm, VmConfiguration config, GuestLauncher launcher, EventLog log) {
        this.vmm = vmm;
        this.config = config;
        this.launcher = launcher;
        this.log = log;
    }

    Object handle(VmmAction action) {
        switch (action) {
            case Query q -> {
                return vmm.answer(q);
            }
            case Configure c -> vmm.whilePreBoot(action, () -> config.apply(c));
            case InstanceStart _ -> start(action);
            case LoadSnapshot l -> loadSnapshot(action, l.params());
            case CancelMigration _ -> vmm.migration().cancel();
            case PutMmds _, PatchMmds _ -> config.updateMmds(action);
            // As Firecracker (rpc_interface.rs): PATCH of a drive or an interface updates a running
            // device, and FlushMetrics has nothing to flush before boot; before it, PUT the section again.
            // The same for the balloon's PATCHes and statistics (rpc_interface.rs: not supported pre-boot).
            case UpdateDrive _, UpdateNetworkInterface _, FlushMetrics _, SendCtrlAltDel _, Pause _, Resume _,
                    CreateSnapshot _, StartMigration _, UpdateBalloon _, UpdateBalloonStatistics _,
                    GetBalloonStats _ -> throw notBeforeStart(action);
        }
        return null;
    }

    /** The refusal of an action that needs a running guest. */
    static ApiException notBeforeStart(VmmAction action) {
        return ApiException.notAllowed(action.name() + ": " + VmmController.BEFORE_START);
    }

    /** Validates the whole configuration and boots it; returns once the vCPUs run. */
    private void start(VmmAction action) {
        GuestSpec spec;
        synchronized (vmm) {
            vmm.beginCreating(action, "InstanceStart is already in progress");
            try {
                spec = config.toGuestSpec();
            } catch (RuntimeException e) {
                vmm.endCreating();
                throw e;
            }
        }
        try {
            vmm.created(launcher.launch(spec), VmmController.State.RUNNING);
            log.info("instance_started", "id", vmm.id(), "vcpu_count", spec.config().cpus(),
                    "mem_size_mib", spec.config().memoryBytes() >> 20);
        } finally {
            vmm.endCreating();
        }
    }

    /**
     * {@code PUT /snapshot/load}: only before anything boot-specific is configured. Restores the
     * machine, re-opens the disks and TAP devices the snapshot recorded, and runs or parks it.
     */
    private void loadSnapshot(VmmAction action, SnapshotLoadParams p) {
        SnapshotRequest request;
        boolean resume = Boolean.TRUE.equals(p.resumeVm());
        synchronized (vmm) {
            vmm.beginCreating(action, "InstanceStart or a snapshot load is already in progress");
            try {
                if (config.hasBootResources()) {
                    throw ApiException.notAllowed("Loading a microVM snapshot not allowed after configuring boot-specific"
                            + " resources (boot-source, drives, network-interfaces, vsock, balloon)");
                }
                request = SnapshotRequests.load(p, vmm.snapshotKey());
            } catch (RuntimeException e) {
                vmm.endCreating();
                throw e;
            }
        }
        try {
            long t0 = System.nanoTime();
            GuestLauncher.Restored r = launcher.restore(request, resume, config.mmds());
            config.restoredFrom(r.config(), request.trackDirtyPages(), r.mmds());
            vmm.created(r.guest(), resume ? VmmController.State.RUNNING : VmmController.State.PAUSED);
            vmm.firecrackerMetrics().latency("load_snapshot", System.nanoTime() - t0);
            log.info("snapshot_loaded", "id", vmm.id(), "snapshot_path", request.stateFile(), "resumed", resume);
        } finally {
            vmm.endCreating();
        }
    }
}
