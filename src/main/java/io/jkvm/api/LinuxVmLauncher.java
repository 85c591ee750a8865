package io.jkvm.api;

import io.jkvm.arch.x86.boot.BootException;
import io.jkvm.config.ConfigException;
import io.jkvm.config.VmConfig;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.SnapshotException;
import io.jkvm.snapshot.Snapshots;
import io.jkvm.snapshot.VmConfigState;
import io.jkvm.vmm.LinuxVm;
import io.jkvm.vmm.MachineExit;
import io.jkvm.vmm.StopReason;
import io.jkvm.vmm.VmMetrics;

import java.io.IOException;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;

/**
 * Boots a {@link LinuxVm} on its own platform thread and reports its end once. A boot that
 * fails before the vCPUs run (bad kernel, KVM refusing the machine) is a 400 for InstanceStart
 * and leaves the API in "Not started", so the client can fix the configuration and retry.
 */
public final class LinuxVmLauncher implements GuestLauncher {
    private static final Duration START_TIMEOUT = Duration.ofSeconds(60);

    private final LinuxVm.Console console;
    private final Consumer<MachineExit> onExit;
    private volatile Consumer<VmConfig> beforeFirstStart;

    public LinuxVmLauncher(LinuxVm.Console console, Consumer<MachineExit> onExit) {
        this.console = console;
        this.onExit = onExit;
    }

    private volatile io.jkvm.resources.VcpuPlacement placement = io.jkvm.resources.VcpuPlacement.NONE;

    /** Where the vCPU threads of the guests this launches run (the VMM's command-line flags). */
    public LinuxVmLauncher placement(io.jkvm.resources.VcpuPlacement p) {
        placement = java.util.Objects.requireNonNull(p, "placement");
        return this;
    }

    private volatile boolean ksm;

    /** Whether the guests this launches have KSM-mergeable RAM (the VMM's --ksm). */
    public LinuxVmLauncher ksm(boolean on) {
        ksm = on;
        return this;
    }

    private volatile io.jkvm.config.VncConfig vnc;

    /** Where the display of the guests this launches is served over VNC (the VMM's --vnc), or null. */
    public LinuxVmLauncher vnc(io.jkvm.config.VncConfig v) {
        vnc = v;
        return this;
    }

    private void place(LinuxVm vm) {
        try {
            vm.ksm(ksm);
            vm.placement(placement);
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest("the VMM's --" + e.getMessage());
        }
    }

    /** See {@link LinuxVm#beforeFirstStart}: given to every VM this launcher runs (booted, restored or migrated in). */
    public LinuxVmLauncher beforeFirstStart(Consumer<VmConfig> hook) {
        beforeFirstStart = hook;
        return this;
    }

    @Override
    public RunningGuest launch(GuestSpec spec) {
        LinuxVm.Console c = spec.serialOutPath() == null ? console
                : new LinuxVm.Console(console.in(), SerialOutput.open(spec.serialOutPath()), false);
        LinuxVm vm = new LinuxVm(spec.config(), c);
        io.jkvm.config.VncConfig v = vnc;
        if (v != null && vm.framebuffer().isPresent()) {
            try {
                vm.serveVnc(v);
            } catch (IOException e) {
                throw ApiException.badRequest("the VMM's --vnc " + v + ": cannot listen: " + e.getMessage());
            }
        }
        vm.trackDirtyPages(spec.trackDirtyPages());
        vm.ramBacking(spec.ramBacking());
        vm.mmds(spec.mmds());
        return run(vm);
    }

    /**
     * Verifies and restores the snapshot (the MAC is checked before anything in it is parsed),
     * re-creates the devices from the configuration it recorded and resumes or parks the vCPUs.
     */
    @Override
    public Restored restore(SnapshotRequest r, boolean resume, io.jkvm.mmds.MmdsStore mmds) {
        Snapshots.Restored restored;
        try {
            restored = Snapshots.restore(r.stateFile(), r.memFile(), r.key());
        } catch (SnapshotException e) {
            throw ApiException.badRequest("cannot load the snapshot: " + e.getMessage());
        } catch (IOException e) {
            throw ApiException.badRequest("cannot read the snapshot: " + e.getMessage());
        }
        LinuxVm vm;
        VmConfig config;
        io.jkvm.mmds.MmdsState mmdsState = null;
        try {
            DeviceState saved = restored.device(VmConfigState.NAME);
            if (saved == null) {
                throw new SnapshotException(r.stateFile(), "no " + VmConfigState.NAME + " record: not a snapshot of a Linux VM");
            }
            config = withVsockOverride(VmConfigState.decode(saved), r.vsockUdsPath());
            try {
                placement.requireVcpus(config.cpus());
            } catch (IllegalArgumentException e) {
                throw ApiException.badRequest("the VMM's --" + e.getMessage());
            }
            vm = LinuxVm.fromRestored(config, console, restored.machine(), restored.devices());
            DeviceState savedMmds = restored.device(io.jkvm.mmds.MmdsState.NAME);
            if (savedMmds != null) {
                mmdsState = io.jkvm.vmm.DeviceStateFormat.CODECS.decode(savedMmds, io.jkvm.mmds.MmdsState.class);
                java.util.Set<String> taps = new java.util.HashSet<>();
                config.devices().nets().forEach(n -> taps.add(n.tap()));
                if (!taps.containsAll(mmdsState.taps())) {
                    throw new SnapshotException(r.stateFile(), "the MMDS record names interfaces the snapshot has not");
                }
                vm.mmds(mmdsState.bindTo(mmds));
            }
        } catch (SnapshotException e) {
            restored.machine().close();
            throw ApiException.badRequest("cannot load the snapshot: " + e.getMessage());
        } catch (ApiException | io.jkvm.config.ConfigException e) {
            restored.machine().close();
            throw e instanceof ApiException a ? a : ApiException.badField("vsock_override.uds_path", e.getMessage());
        }
        vm.startPaused(!resume);
        vm.trackDirtyPages(r.trackDirtyPages());
        return new Restored(run(vm), config, mmdsState);
    }

    /** The restored configuration with the vsock device on {@code uds} (vsock_override), unchanged when null. */
    static VmConfig withVsockOverride(VmConfig config, java.nio.file.Path uds) {
        if (uds == null) {
            return config;
        }
        var vsock = config.devices().vsock();
        if (vsock == null) {
            throw ApiException.badField("vsock_override", "vsock_override: the snapshot has no vsock device");
        }
        return config.withDevices(config.devices().withVsock(vsock.withUdsPath(uds)));
    }

    @Override
    public io.jkvm.migration.MigrationTarget receive(io.jkvm.snapshot.MachineConfig source, VmConfig own,
            Consumer<RunningGuest> started) {
        return LinuxVmMigration.target(source, own, console, this::run, started);
    }

    /** Starts {@code vm} (booted, restored or migrated in) placed as the VMM's flags say. */
    private RunningGuest run(LinuxVm vm) {
        place(vm);
        Consumer<VmConfig> hook = beforeFirstStart;
        if (hook != null) {
            vm.beforeFirstStart(hook);
        }
        var bootedOk = new java.util.concurrent.atomic.AtomicBoolean();
        var reported = new java.util.concurrent.CountDownLatch(1);
        Thread main = Thread.ofPlatform().name("vmm-main").unstarted(() -> {
            MachineExit exit;
            try {
                exit = vm.run();
            } catch (Throwable t) {
                exit = new MachineExit(StopReason.ERROR, String.valueOf(t.getMessage()));
            }
            try {
                reported.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (bootedOk.get()) {
                onExit.accept(exit);
            }
        });
        main.start();
        try {
            vm.awaitStarted(START_TIMEOUT);
            bootedOk.set(true);
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            String what = c instanceof BootException || c instanceof ConfigException ? c.getMessage()
                    : c instanceof SnapshotException ? "cannot load the snapshot: " + c.getMessage()
                    : "cannot start the microVM: " + c.getMessage();
            throw ApiException.badRequest(what);
        } catch (TimeoutException e) {
            vm.stop();
            throw ApiException.badRequest("the microVM did not start within " + START_TIMEOUT.toSeconds() + " s");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            vm.stop();
            throw ApiException.badRequest("interrupted while starting the microVM");
        } finally {
            reported.countDown();
        }
        return new RunningGuest() {
            @Override
            public void pause() throws InterruptedException {
                vm.pause();
            }

            @Override
            public void resume() {
                vm.resume();
            }

            @Override
            public boolean isPaused() {
                return vm.isPaused();
            }

            @Override
            public boolean sendCtrlAltDel() {
                return vm.sendCtrlAltDel();
            }

            @Override
            public java.util.Optional<io.jkvm.display.Framebuffer> framebuffer() {
                return vm.framebuffer();
            }

            @Override
            public VmMetrics metrics() {
                return vm.metrics();
            }

            @Override
            public io.jkvm.vmm.diag.MachineReport report(java.time.Duration answerTimeout) throws InterruptedException {
                return vm.report(answerTimeout);
            }

            @Override
            public io.jkvm.migration.MigrationSource migrationSource() {
                return LinuxVmMigration.source(vm);
            }

            @Override
            public void replaceDrive(String driveId, java.nio.file.Path path) throws IOException {
                vm.replaceDisk(GuestDevices.serial(driveId), path);
            }

            @Override
            public void updateDriveRateLimit(String driveId, io.jkvm.resources.RateLimitConfig limit) {
                try {
                    vm.updateDiskRateLimit(GuestDevices.serial(driveId), limit);
                } catch (IllegalArgumentException e) {
                    throw ApiException.badRequest(e.getMessage());
                }
            }

            @Override
            public void updateNetworkRateLimits(String hostDevName, io.jkvm.resources.RateLimitConfig rx,
                    io.jkvm.resources.RateLimitConfig tx) {
                try {
                    vm.updateNetworkRateLimits(hostDevName, rx, tx);
                } catch (IllegalArgumentException e) {
                    throw ApiException.badRequest(e.getMessage());
                }
            }

            @Override
            public io.jkvm.device.virtio.VirtioBalloon balloon() {
                return vm.balloon();
            }

            @Override
            public void updateBalloon(Long amountMib, long statsIntervalS) {
                try {
                    vm.updateBalloon(amountMib == null ? null : Math.toIntExact(amountMib), Math.toIntExact(statsIntervalS));
                } catch (IllegalArgumentException | IllegalStateException e) {
                    throw ApiException.badRequest(e.getMessage());
                }
            }

            @Override
            public void snapshot(SnapshotRequest r) throws IOException, InterruptedException {
                vm.snapshot(r.stateFile(), r.memFile(), r.key(), r.protection(), r.diff());
            }
        };
    }
}
