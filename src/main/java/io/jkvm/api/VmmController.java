package io.jkvm.api;

import io.jkvm.api.VmmAction.*;
import io.jkvm.config.HostLimits;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VmConfig;
import io.jkvm.migration.MigrationException;
import io.jkvm.migration.MigrationTarget;
import io.jkvm.migration.MigrationTls;
import io.jkvm.migration.VmShape;
import io.jkvm.snapshot.MachineConfig;
import io.jkvm.snapshot.SnapshotKey;
import io.jkvm.vmm.MachineExit;
import io.jkvm.vmm.diag.MachineReport;
import io.jkvm.vmm.diag.ReportJson;
import io.jkvm.vmm.diag.ReportSignal;

import java.time.Duration;
import java.util.Map;

/**
 * One VM's lifecycle behind the Firecracker-compatible API: its phase (not started, running,
 * paused, stopped), the running guest, and {@link #handle} giving each {@link VmmAction} to the
 * handler for the phase: {@link PreBootHandler} before boot, {@link RuntimeHandler} after. Which
 * actions each phase takes is in those handlers' exhaustive switches; the configuration itself is
 * a {@link VmConfiguration}, snapshots {@link SnapshotRequests}, the incoming side of a live
 * migration {@link IncomingConfiguration}, metrics {@link MetricsLine}.
 *
 * <p>Phase changes and configuration are serialized on this object; reads of the phase are
 * lock-free so {@code GET /} answers while a start or pause is in progress.
 */
public final class VmmController {
    /** Firecracker's wording for a pre-boot-only request after boot. */
    static final String AFTER_START = "The requested operation is not supported after starting the microVM.";
    static final String BEFORE_START = "The requested operation is not supported before starting the microVM.";
    static final String STOPPED_MESSAGE = "the microVM has stopped";
    public static final String VERSION = Versions.FIRECRACKER_API;

    /** Lifecycle as {@code GET /} reports it (plus Stopped, once the guest has ended). */
    public enum State {
        NOT_STARTED("Not started"), RUNNING("Running"), PAUSED("Paused"), STOPPED("Stopped");

        public final String apiName;

        State(String apiName) {
            this.apiName = apiName;
        }
    }

    private final String id;
    private final GuestLauncher launcher;
    private final EventLog log;
    private final VmConfiguration config;
    private final PreBootHandler preBoot;
    private final RuntimeHandler runtime;

    private volatile State state = State.NOT_STARTED;
    private volatile RunningGuest guest;
    private volatile MachineExit exit;
    private volatile MigrationControl migration = new MigrationControl(null);
    /** InstanceStart, a snapshot load or an incoming migration is creating the guest (guarded by this). */
    private boolean starting;
    /** jkvm run --trust-source-paths: an unconfigured destination takes the source's recorded host paths. */
    private volatile boolean trustSourcePaths;
    private volatile java.util.function.Supplier<SnapshotKey> snapshotKey = () -> null;
    private final FirecrackerMetrics firecrackerMetrics = new FirecrackerMetrics();
    private Thread periodicMetrics;
    /** The Landlock policy the VMM confined itself to when its guest started (null: none). */
    private volatile io.jkvm.isolation.LandlockPolicy confinedTo;
    /** Whether that policy binds every thread (the API's too) or only the vCPUs' side (Landlock ABI &lt; 8). */
    private volatile boolean confinedAllThreads;

    public VmmController(String id, HostLimits limits, GuestLauncher launcher, EventLog log, OnReboot onReboot) {
        this.id = id;
        this.launcher = launcher;
        this.log = log;
        this.config = new VmConfiguration(id, limits, onReboot, log);
        config.mmds().tokens().bindTo(id);
        this.preBoot = new PreBootHandler(this, config, launcher, log);
        this.runtime = new RuntimeHandler(this, config, log);
    }

    /**
     * Carries out {@code action} in the VM's current phase. Returns the body of a read (to be sent
     * as JSON), null for other actions; refusals are {@link ApiException}s naming the field or,
     * for an action the phase does not take, the action and the phase.
     */
    public Object handle(VmmAction action) {
        State s = state;
        return switch (s) {
            case NOT_STARTED -> preBoot.handle(action);
            case RUNNING, PAUSED, STOPPED -> runtime.handle(action, s);
        };
    }

    /** Applies {@code actions} in order, stopping at the first refusal (a configuration file, a daemon definition). */
    public void handleAll(Iterable<? extends VmmAction> actions) {
        for (VmmAction a : actions) {
            handle(a);
        }
    }

    public State state() {
        return state;
    }

    public String id() {
        return id;
    }

    /** The answers to reads, the same in every phase. */
    Object answer(Query q) {
        return switch (q) {
            case GetInstanceInfo _ -> instanceInfo();
            case GetVersion _ -> Map.of("firecracker_version", VERSION);
            case GetMachineConfig _ -> config.machine();
            case GetVmConfig _ -> config.full();
            case GetScreenshot _ -> screenshot();
            case GetBalloonConfig _ -> {
                io.jkvm.config.BalloonConfig b = config.balloon();
                if (b == null) {
                    throw ApiException.badRequest(BalloonHandler.NOT_FOUND);
                }
                yield BalloonDevice.of(b);
            }
            case GetMigrationStatus _ -> migration.status();
            case GetMmds _ -> config.mmdsDocument();
            case GetVcpuReport _ -> {
                try {
                    yield ReportJson.of(vcpuReport(ReportSignal.ANSWER_TIMEOUT));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw ApiException.badRequest("interrupted while gathering the vCPU report");
                }
            }
            case GetMetrics _ -> metricsLine();
        };
    }

    public InstanceInfo instanceInfo() {
        return new InstanceInfo(id, state.apiName, VERSION, "jkvm");
    }

    /**
     * jkvm extension GET /jkvm/vcpus (and SIGUSR1): each vCPU's activity and KVM state plus the
     * interrupt controllers; a report without vCPUs before InstanceStart or after the guest ended.
     */
    public MachineReport vcpuReport(Duration answerTimeout) throws InterruptedException {
        RunningGuest g = guest;
        return g == null ? MachineReport.none(state.apiName) : g.report(answerTimeout);
    }

    /** GET /vm/screenshot: the display's current picture; refused naming the display when there is none. */
    private ApiResponse.Image screenshot() {
        RunningGuest g = guest;
        io.jkvm.display.Framebuffer fb = g == null ? null : g.framebuffer().orElse(null);
        if (fb == null) {
            throw ApiException.badRequest("display: this VM has no display device running (jkvm run --display)");
        }
        try {
            return new ApiResponse.Image(io.jkvm.display.Screenshot.png(fb));
        } catch (IllegalStateException e) {
            throw ApiException.badRequest("display: " + e.getMessage());
        }
    }

    /** What FlushMetrics writes and GET /jkvm/metrics returns. */
    public Map<String, Object> metricsLine() {
        RunningGuest g = guest;
        return MetricsLine.of(id, state.apiName, g == null ? null : g.metrics(), config.machine().vcpuCount());
    }

    // ---- phase changes (the handlers' seam) ----

    /**
     * Claims the creation of the guest for {@code action} (InstanceStart, a snapshot load): under
     * this lock the VM must still be before boot (another client may have started it since the
     * action was dispatched) and no other creation in progress.
     */
    synchronized void beginCreating(VmmAction action, String inProgress) {
        requirePreBoot(action, inProgress);
        starting = true;
    }

    /**
     * Runs {@code change} to the pre-boot configuration under this lock, if the VM is still
     * before boot and nothing is creating the guest (a change then would not be in it).
     */
    synchronized void whilePreBoot(VmmAction action, Runnable change) {
        requirePreBoot(action, "InstanceStart or a snapshot load is in progress");
        change.run();
    }

    private void requirePreBoot(VmmAction action, String inProgress) {
        if (starting) {
            throw ApiException.notAllowed(inProgress);
        }
        if (state != State.NOT_STARTED) {
            throw RuntimeHandler.notAfterStart(action, state);
        }
    }

    /** The guest exists: the phase becomes {@code to} (unless it ended meanwhile). */
    synchronized void created(RunningGuest g, State to) {
        guest = g;
        if (state == State.NOT_STARTED) {
            state = to;
        }
        startPeriodicMetrics();
    }

    FirecrackerMetrics firecrackerMetrics() {
        return firecrackerMetrics;
    }

    /** The process start-up times the metrics' {@code api_server} group reports (null: not measured). */
    public void recordStartup(Long wallUs, Long cpuUs) {
        firecrackerMetrics.startup(wallUs, cpuUs);
    }

    /**
     * FlushMetrics: writes the next line in Firecracker's layout to the metrics destination. A
     * line that could not be written (a pipe nobody empties, a failing file) is refused with 400
     * naming {@code metrics_path}, and counted in the next line's {@code logger} group.
     */
    void flushMetrics() {
        MetricsSink sink = config.metricsSink();
        if (sink == null) {
            throw ApiException.notAllowed("metrics are not configured (PUT /metrics with a metrics_path first)");
        }
        if (!writeMetricsLine(sink)) {
            throw ApiException.badField("metrics_path", "metrics_path " + sink.path()
                    + ": the line could not be written (a pipe nobody reads, or a write error); it was dropped");
        }
    }

    private boolean writeMetricsLine(MetricsSink sink) {
        RunningGuest g = guest;
        Map<String, Object> line = firecrackerMetrics.line(id, config.metrics(), g == null ? null : g.metrics(), sink,
                FirecrackerMetrics.driveIds(config.drives()), FirecrackerMetrics.ifaceIds(config.networkInterfaces()));
        return sink.write(Json.write(line));
    }

    /** Once the guest exists, a line every {@link FirecrackerMetrics#PERIOD_MS} as Firecracker writes them (caller holds this). */
    private void startPeriodicMetrics() {
        MetricsSink sink = config.metricsSink();
        if (sink == null || periodicMetrics != null) {
            return;
        }
        periodicMetrics = Thread.ofPlatform().daemon().name("metrics").start(() -> {
            while (true) {
                try {
                    Thread.sleep(FirecrackerMetrics.PERIOD_MS);
                } catch (InterruptedException e) {
                    return;
                }
                writeMetricsLine(sink); // a dropped line is counted in the next one
            }
        });
    }

    synchronized void endCreating() {
        starting = false;
    }

    /** Pause/Resume: {@code from} becomes {@code to}; any other phase is left alone. Caller holds this lock. */
    void transition(State from, State to) {
        if (state == from) {
            state = to;
        }
    }

    /** The running guest for {@code action}, or the refusal when it has stopped. */
    RunningGuest liveGuest(VmmAction action) {
        if (state == State.STOPPED) {
            throw RuntimeHandler.notAfterStart(action, State.STOPPED);
        }
        return guest;
    }

    MigrationControl migration() {
        return migration;
    }

    /** The key snapshots are made and loaded with, or null when there is none. */
    SnapshotKey snapshotKey() {
        return snapshotKey.get();
    }

    /** Called by the VMM when the guest has stopped for good. */
    public void guestExited(MachineExit e) {
        exit = e;
        state = State.STOPPED;
        log.info("instance_stopped", "id", id, "reason", e.reason(), "detail", e.detail());
    }

    public MachineExit exit() {
        return exit;
    }

    // ---- settings from the command line ----

    /** The key snapshots are authenticated (and optionally encrypted) with; without one they are refused. */
    public void setSnapshotKey(SnapshotKey key) {
        snapshotKey = () -> key;
    }

    /**
     * Where the snapshot key comes from when none was given: asked on the first snapshot
     * request (the source may create the key then, and answers an {@link ApiException} when it cannot).
     */
    public void setSnapshotKeySource(java.util.function.Supplier<SnapshotKey> source) {
        snapshotKey = java.util.Objects.requireNonNull(source, "source");
    }

    /**
     * Where the virtio devices of the guests this VMM boots go (jkvm run --virtio-transport;
     * Firecracker's virtio-mmio unless --enable-pci). A snapshot or an incoming VM keeps the
     * transport it was saved with; an incoming VM on the other transport is refused.
     */
    /** The display every guest this VMM boots gets (its --display), or null. */
    public void setDisplay(io.jkvm.config.DisplayConfig d) {
        config.setDisplay(d);
    }

    public void setVirtioTransport(io.jkvm.config.VirtioTransport t) {
        config.setVirtioTransport(t);
    }

    /** {@code --mmds-size-limit}: the most bytes the metadata document may take (default: the API's body limit). */
    public void setMmdsSizeLimit(long bytes) {
        config.mmds().setLimit(bytes);
    }

    /** TLS files for outgoing migrations that do not name their own (jkvm run --tls-*). */
    public void setMigrationTls(MigrationTls tls) {
        migration = new MigrationControl(tls);
    }

    /**
     * {@code jkvm run --trust-source-paths}: a destination with no configuration of its own
     * (no boot-source, drives or network interfaces) takes the kernel, initrd, disk images and TAP
     * devices the source recorded, as they are named there. For a trusted source on the same host
     * or with storage at the same paths; off by default, because those paths are the source's
     * choice and would become this VMM's writable disks.
     */
    public void setTrustSourcePaths(boolean trust) {
        trustSourcePaths = trust;
    }

    /**
     * The VMM confined itself to {@code policy} (io.jkvm.isolation) as its guest started:
     * paths named after that (PATCH /drives, snapshots) are checked against it, so a request
     * Landlock would refuse half way is a 400 naming the field before anything changes.
     */
    public void setConfinedTo(io.jkvm.isolation.LandlockPolicy policy, boolean allThreads) {
        confinedTo = policy;
        confinedAllThreads = allThreads;
    }

    io.jkvm.isolation.LandlockPolicy confinedTo() {
        return confinedTo;
    }

    boolean confinedAllThreads() {
        return confinedAllThreads;
    }

    // ---- live migration ----

    /**
     * The destination for an incoming migration. Refused, with the reason, when this VMM already
     * runs a guest, when the source's machine exceeds this host, when a client configured a
     * different machine here (PUT /machine-config is optional: without it the source's is taken),
     * or when this VMM's own devices do not match the ones the source announced
     * ({@link IncomingConfiguration}).
     */
    public MigrationTarget incomingTarget(MachineConfig source, VmShape devices) {
        VmConfig own;
        synchronized (this) {
            if (state != State.NOT_STARTED || starting) {
                throw new MigrationException("this VMM already runs a guest");
            }
            IncomingConfiguration incoming = new IncomingConfiguration(config);
            incoming.checkMachine(source);
            own = incoming.ownConfiguration(source, devices, trustSourcePaths);
            starting = true;
        }
        try {
            return launcher.receive(source, own, g -> {
                created(g, State.RUNNING);
                log.info("instance_migrated_in", "id", id);
            });
        } finally {
            endCreating();
        }
    }

    /**
     * When the guest ended because it migrated away (or post-copy broke after the switch-over),
     * waits (at most {@code timeout}) until a client has read the final report, so
     * {@code jkvm migrate} can print it before we exit.
     */
    public void awaitMigrationReport(Duration timeout) throws InterruptedException {
        if (migration.endedTheVmHere()) {
            migration.awaitReportCollected(timeout);
        }
    }
}
