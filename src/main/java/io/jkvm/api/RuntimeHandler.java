package io.jkvm.api;

import io.jkvm.api.VmmAction.*;
import io.jkvm.api.VmmController.State;

import java.io.IOException;

/**
 * What a VM takes once its guest exists (running or paused) and after it has stopped: pause,
 * resume, Ctrl+Alt+Del, snapshots, migration, reads and FlushMetrics. Pre-boot configuration,
 * InstanceStart and snapshot loads are refused here, by the exhaustive switch, with Firecracker's
 * "not supported after starting" naming the action; once the guest has stopped, everything but
 * reads, metrics and interface updates is refused saying so. An interface update reaches the
 * running guest's device ({@link RunningGuest#updateNetworkRateLimits}).
 */
final class RuntimeHandler {
    private final VmmController vmm;
    private final VmConfiguration config;
    private final EventLog log;
    /** Orders interface updates, so the device ends with the limits the configuration ends with. */
    private final Object interfaceUpdates = new Object();
    private final BalloonHandler balloon;

    RuntimeHandler(VmmController vmm, VmConfiguration config, EventLog log) {
        this.vmm = vmm;
        this.config = config;
        this.log = log;
        this.balloon = new BalloonHandler(vmm, config, log);
    }

    Object handle(VmmAction action, State state) {
        switch (action) {
            case Query q -> {
                return vmm.answer(q);
            }
            case Configure _, InstanceStart _, LoadSnapshot _ -> throw notAfterStart(action, state);
            case UpdateDrive u -> updateDrive(action, u);
            case UpdateNetworkInterface u -> updateNetworkInterface(action, u);
            case UpdateBalloon u -> balloon.update(action, u.update());
            case UpdateBalloonStatistics u -> balloon.updateStatistics(action, u.update());
            case GetBalloonStats _ -> {
                return balloon.statistics(action);
            }
            case FlushMetrics _ -> vmm.flushMetrics();
            case Pause _ -> pause(action);
            case Resume _ -> resume(action);
            case SendCtrlAltDel _ -> sendCtrlAltDel(action);
            case CreateSnapshot c -> createSnapshot(action, c.params());
            case StartMigration m -> startMigration(action, m.request());
            case CancelMigration _ -> vmm.migration().cancel();
            case PutMmds _, PatchMmds _ -> config.updateMmds(action); // the guest sees the new document at once
        }
        return null;
    }

    /** The refusal of a pre-boot action in {@code state}. */
    static ApiException notAfterStart(VmmAction action, State state) {
        return ApiException.notAllowed(action.name() + ": "
                + (state == State.STOPPED ? VmmController.STOPPED_MESSAGE : VmmController.AFTER_START));
    }

    /**
     * {@code PATCH /drives/{id}} of a running (or paused) microVM, as Firecracker: a new
     * {@code path_on_host} is a media change the guest sees as a capacity change; the drive's
     * record (GET /vm/config, snapshots, migration) follows it. A refused image leaves the drive
     * as it was.
     */
    private void updateDrive(VmmAction action, UpdateDrive u) {
        synchronized (vmm) {
            // Everything is checked before the device changes, so a refusal changes nothing.
            Drive updated = config.checkedDriveUpdate(u.pathId(), u.update());
            RunningGuest g = vmm.liveGuest(action);
            String path = u.update().pathOnHost();
            if (path != null) {
                java.nio.file.Path image = HostPaths.usable("path_on_host", path);
                ConfinedPaths.checkDriveSwap(vmm, "path_on_host", image, updated.readOnly());
                try {
                    g.replaceDrive(u.pathId(), image);
                } catch (IOException e) {
                    throw ApiException.badField("path_on_host", "path_on_host " + path + ": cannot use it: " + e.getMessage());
                } catch (IllegalArgumentException e) {
                    throw ApiException.badField("path_on_host", "path_on_host " + path + ": " + e.getMessage());
                }
            }
            if (u.update().rateLimiter() != null) {
                // The old limiter patched bucket by bucket, as Firecracker patches.
                g.updateDriveRateLimit(u.pathId(), RateLimiter.toConfig(updated.rateLimiter()));
            }
            config.recordDriveUpdate(updated);
            log.info("drive_updated", "id", vmm.id(), "drive_id", u.pathId(), "path_on_host", path);
        }
    }

    /** {@code PATCH /network-interfaces/{id}}: the configuration, then the running device's limiters. */
    private void updateNetworkInterface(VmmAction action, UpdateNetworkInterface u) {
        synchronized (interfaceUpdates) {
            NetworkInterface n = config.updateNetworkInterface(u.pathId(), u.update());
            RunningGuest g;
            try {
                g = vmm.liveGuest(action);
            } catch (ApiException stopped) {
                g = null; // the guest has stopped: no device any more, the configuration is all there is
            }
            if (g != null) {
                g.updateNetworkRateLimits(n.hostDevName(), RateLimiter.toConfig(n.rxRateLimiter()),
                        RateLimiter.toConfig(n.txRateLimiter()));
            }
        }
        log.info("network_interface_updated", "id", vmm.id(), "iface_id", u.pathId());
    }

    private void pause(VmmAction action) {
        synchronized (vmm) {
            RunningGuest g = vmm.liveGuest(action);
            long t0 = System.nanoTime();
            try {
                g.pause();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw ApiException.badRequest("interrupted while pausing");
            }
            vmm.transition(State.RUNNING, State.PAUSED);
            vmm.firecrackerMetrics().latency("pause_vm", System.nanoTime() - t0);
        }
        log.info("instance_paused", "id", vmm.id());
    }

    private void resume(VmmAction action) {
        synchronized (vmm) {
            long t0 = System.nanoTime();
            vmm.liveGuest(action).resume();
            vmm.transition(State.PAUSED, State.RUNNING);
            vmm.firecrackerMetrics().latency("resume_vm", System.nanoTime() - t0);
        }
        log.info("instance_resumed", "id", vmm.id());
    }

    private void sendCtrlAltDel(VmmAction action) {
        if (!vmm.liveGuest(action).sendCtrlAltDel()) {
            throw ApiException.notAllowed("the guest's keyboard buffer is full: Ctrl+Alt+Del not sent, try again");
        }
        log.info("ctrl_alt_del_sent", "id", vmm.id());
    }

    /** {@code PUT /snapshot/create}: the microVM must be paused; it stays paused. */
    private void createSnapshot(VmmAction action, SnapshotCreateParams p) {
        synchronized (vmm) {
            RunningGuest g = vmm.liveGuest(action);
            SnapshotRequest request = SnapshotRequests.create(p, config.machine(), vmm.state() == State.PAUSED,
                    vmm.snapshotKey());
            ConfinedPaths.checkCreated(vmm, "snapshot_path", request.stateFile());
            ConfinedPaths.checkCreated(vmm, "mem_file_path", request.memFile());
            long t0 = System.nanoTime();
            try {
                g.snapshot(request);
            } catch (ApiException e) {
                throw e;
            } catch (IOException | RuntimeException e) {
                throw ApiException.badRequest("cannot create the snapshot: " + e.getMessage());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw ApiException.badRequest("interrupted while creating the snapshot");
            }
            vmm.firecrackerMetrics().latency(SnapshotRequests.type(p).equals("Diff") ? "diff_create_snapshot"
                    : "full_create_snapshot", System.nanoTime() - t0);
            log.info("snapshot_created", "id", vmm.id(), "snapshot_type", SnapshotRequests.type(p), "snapshot_path",
                    request.stateFile(), "mem_file_path", request.memFile(), "protection", request.protection(),
                    "ms", (System.nanoTime() - t0) / 1_000_000);
        }
    }

    /**
     * Migration does not carry the MMDS binding yet (snapshots do): refused rather than a
     * destination whose interfaces no longer answer for it.
     */
    private void refuseWithMmds(String what) {
        if (config.mmdsConfig() != null) {
            throw ApiException.notAllowed(what + " of a microVM with the MMDS configured (PUT /mmds/config) is not"
                    + " supported yet: jkvm's migration stream does not carry the MMDS binding");
        }
    }

    /** {@code PUT /migrate}: starts migrating the running VM; progress via {@code GET /migrate}. */
    private void startMigration(VmmAction action, MigrateRequest r) {
        RunningGuest g;
        synchronized (vmm) {
            g = vmm.liveGuest(action);
            refuseWithMmds("StartMigration: a migration");
            if (vmm.state() == State.PAUSED) {
                throw ApiException.notAllowed("the microVM is paused: resume it before migrating");
            }
        }
        vmm.migration().start(g.migrationSource(), r, log);
    }
}
