package io.jkvm.api;

import io.jkvm.config.ConfigException;
import io.jkvm.config.HostLimits;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VmConfig;
import io.jkvm.config.VmConfigValidator;
import io.jkvm.snapshot.Protection;
import io.jkvm.snapshot.SnapshotKey;
import io.jkvm.vmm.MachineExit;
import io.jkvm.vmm.diag.MachineReport;
import io.jkvm.vmm.VmMetrics;

import java.time.Duration;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The per-VM state machine behind the Firecracker-compatible API: collects and validates the
 * pre-boot configuration, starts the guest once, then pauses, resumes, presses Ctrl+Alt+Del and
 * flushes metrics. Every refusal is an {@link ApiException} whose message names the field or
 * the state at fault; nothing a client sends reaches the VMM unvalidated.
 *
 * <p>Configuration changes are serialized on this object; reads of the state are lock-free so
 * {@code GET /} answers while a start or pause is in progress.
 */
public final class VmmController {
    /** Firecracker's wording for a pre-boot-only request after boot. */
    static final String AFTER_START = "The requested operation is not supported after starting the microVM.";
    static final String BEFORE_START = "The requested operation is not supported before starting the microVM.";
    static final VmConfigValidator.FieldNames API_FIELDS = new VmConfigValidator.FieldNames(
            "kernel_image_path", "initrd_path", "boot_args", "vcpu_count", "mem_size_mib");
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9_-]{1,64}");
    private static final Pattern MAC = Pattern.compile("([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}");
    private static final Pattern TAP_NAME = Pattern.compile("[A-Za-z0-9_.:-]{1,15}");
    public static final String VERSION = "0.1.0";

    /** Lifecycle as {@code GET /} reports it (plus Stopped, once the guest has ended). */
    public enum State {
        NOT_STARTED("Not started"), RUNNING("Running"), PAUSED("Paused"), STOPPED("Stopped");

        public final String apiName;

        State(String apiName) {
            this.apiName = apiName;
        }
    }

    private final String id;
    private final HostLimits limits;
    private final GuestLauncher launcher;
    private final EventLog log;
    private final OnReboot onReboot;

    private volatile State state = State.NOT_STARTED;
    private volatile RunningGuest guest;
    private volatile MachineExit exit;
    private volatile MigrationControl migration = new MigrationControl(null);
    private BootSource bootSource;
    private MachineConfiguration machine = MachineConfiguration.DEFAULT;
    private final Map<String, Drive> drives = new LinkedHashMap<>();
    private final Map<String, NetworkInterface> nics = new LinkedHashMap<>();
    private LoggerConfig logger;
    private MetricsConfig metrics;
    private Path metricsPath;
    private boolean starting;
    /** Whether a client set the machine configuration (an incoming migration must then match it). */
    private boolean machineConfigured;
    private volatile SnapshotKey snapshotKey;

    public VmmController(String id, HostLimits limits, GuestLauncher launcher, EventLog log, OnReboot onReboot) {
        this.id = id;
        this.limits = limits;
        this.launcher = launcher;
        this.log = log;
        this.onReboot = onReboot;
    }

    public State state() {
        return state;
    }

    /** TLS files for outgoing migrations that do not name their own (jkvm run --tls-*). */
    public void setMigrationTls(io.jkvm.migration.MigrationTls tls) {
        migration = new MigrationControl(tls);
    }

    // ---- live migration ----

    /** PUT /migrate: starts migrating the running VM; progress via {@link #migrationStatus()}. */
    public void startMigration(MigrateRequest r) {
        RunningGuest g;
        synchronized (this) {
            g = requireStarted();
            if (state == State.PAUSED) {
                throw ApiException.badRequest("the microVM is paused: resume it before migrating");
            }
        }
        migration.start(g.migrationSource(), r, log);
    }

    /**
     * The destination for an incoming migration. Refused, with the reason, when this VMM already
     * runs a guest, when the source's machine exceeds this host, or when a client configured a
     * different machine here (PUT /machine-config is optional: without it the source's is taken).
     * The devices come from the configuration the source recorded in its device states, as for
     * snapshot/load.
     */
    public io.jkvm.migration.MigrationTarget incomingTarget(io.jkvm.snapshot.MachineConfig source) {
        synchronized (this) {
            if (state != State.NOT_STARTED || starting) {
                throw new io.jkvm.migration.MigrationException("this VMM already runs a guest");
            }
            if (source.cpus() > limits.maxVcpus()) {
                throw new io.jkvm.migration.MigrationException("source has " + source.cpus() + " vCPUs, this host's KVM allows "
                        + limits.maxVcpus());
            }
            if (source.memoryBytes() > limits.hostMemoryBytes()) {
                throw new io.jkvm.migration.MigrationException("source has " + (source.memoryBytes() >> 20)
                        + " MiB of guest memory, this host has " + (limits.hostMemoryBytes() >> 20) + " MiB");
            }
            long mem = (long) machine.memSizeMib() << 20;
            if (machineConfigured && (source.cpus() != machine.vcpuCount() || source.memoryBytes() != mem)) {
                throw new io.jkvm.migration.MigrationException("source has " + source.cpus() + " vCPUs and "
                        + (source.memoryBytes() >> 20) + " MiB, this VM is configured with " + machine.vcpuCount()
                        + " vCPUs and " + machine.memSizeMib() + " MiB");
            }
            starting = true;
        }
        try {
            return launcher.receive(source, g -> {
                synchronized (this) {
                    guest = g;
                    state = State.RUNNING;
                }
                log.info("instance_migrated_in", "id", id);
            });
        } finally {
            synchronized (this) {
                starting = false;
            }
        }
    }

    /** GET /migrate. */
    public io.jkvm.migration.MigrationReport migrationStatus() {
        return migration.status();
    }

    /** PUT /migrate/cancel. */
    public void cancelMigration() {
        migration.cancel();
    }

    /**
     * When the guest ended because it migrated away, waits (at most {@code timeout}) until a
     * client has read the final report, so {@code jkvm migrate} can print it before we exit.
     */
    public void awaitMigrationReport(java.time.Duration timeout) throws InterruptedException {
        if (migration.migratedAway()) {
            migration.awaitReportCollected(timeout);
        }
    }

    /** The key snapshots are authenticated (and optionally encrypted) with; without one they are refused. */
    public void setSnapshotKey(SnapshotKey key) {
        snapshotKey = key;
    }

    public InstanceInfo instanceInfo() {
        return new InstanceInfo(id, state.apiName, VERSION, "jkvm");
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

    // ---- pre-boot configuration ----

    public synchronized void putBootSource(BootSource b) {
        requireNotStarted();
        if (b.kernelImagePath() == null || b.kernelImagePath().isBlank()) {
            throw ApiException.badRequest("missing field 'kernel_image_path'");
        }
        validate(b, machine);
        bootSource = b;
        log.info("boot_source_set", "id", id, "kernel_image_path", b.kernelImagePath());
    }

    public synchronized void putMachineConfig(MachineConfiguration m) {
        requireNotStarted();
        if (m.vcpuCount() == null) {
            throw ApiException.badRequest("missing field 'vcpu_count'");
        }
        if (m.memSizeMib() == null) {
            throw ApiException.badRequest("missing field 'mem_size_mib'");
        }
        setMachine(MachineConfiguration.DEFAULT.patchedWith(m));
    }

    public synchronized void patchMachineConfig(MachineConfiguration patch) {
        requireNotStarted();
        setMachine(machine.patchedWith(patch));
    }

    private void setMachine(MachineConfiguration m) {
        checkMachineOnly(m);
        if (bootSource != null) {
            validate(bootSource, m);
        }
        machine = m;
        machineConfigured = true;
        log.info("machine_config_set", "id", id, "vcpu_count", m.vcpuCount(), "mem_size_mib", m.memSizeMib());
    }

    public synchronized MachineConfiguration machineConfig() {
        return machine;
    }

    public synchronized void putDrive(String pathId, Drive d) {
        requireNotStarted();
        requireId("drive_id", pathId);
        if (d.driveId() == null) {
            throw ApiException.badRequest("missing field 'drive_id'");
        }
        if (!pathId.equals(d.driveId())) {
            throw ApiException.badRequest("drive_id '" + d.driveId() + "' in the body does not match '" + pathId + "' in the path");
        }
        if (d.isRootDevice() == null) {
            throw ApiException.badRequest("missing field 'is_root_device'");
        }
        if (d.socket() != null) {
            throw ApiException.badRequest("field 'socket': vhost-user drives are not supported");
        }
        if (d.pathOnHost() == null || d.pathOnHost().isBlank()) {
            throw ApiException.badRequest("missing field 'path_on_host'");
        }
        checkBackingFile("path_on_host", d.pathOnHost(), d.readOnly());
        checkOneOf("cache_type", d.cacheType(), "Unsafe", "Writeback");
        checkOneOf("io_engine", d.ioEngine(), "Sync", "Async");
        checkObject("rate_limiter", d.rateLimiter());
        if (d.root()) {
            for (Drive other : drives.values()) {
                if (other.root() && !other.driveId().equals(pathId)) {
                    throw ApiException.badRequest("drive '" + other.driveId() + "' is already the root device (is_root_device)");
                }
            }
        }
        drives.put(pathId, d);
        log.info("drive_set", "id", id, "drive_id", pathId, "path_on_host", d.pathOnHost(), "read_only", d.readOnly());
    }

    public synchronized void patchDrive(String pathId, DriveUpdate u) {
        requireId("drive_id", pathId);
        if (u.driveId() == null || !u.driveId().equals(pathId)) {
            throw ApiException.badRequest("drive_id in the body must be given and match '" + pathId + "' in the path");
        }
        Drive d = drives.get(pathId);
        if (d == null) {
            throw ApiException.badRequest("no drive '" + pathId + "' (PUT /drives/" + pathId + " first)");
        }
        if (state != State.NOT_STARTED) {
            throw ApiException.badRequest("updating drive '" + pathId + "' of a running microVM is not supported yet");
        }
        String path = u.pathOnHost() != null ? u.pathOnHost() : d.pathOnHost();
        checkBackingFile("path_on_host", path, d.readOnly());
        checkObject("rate_limiter", u.rateLimiter());
        drives.put(pathId, new Drive(d.driveId(), path, d.isRootDevice(), d.isReadOnly(), d.partuuid(), d.cacheType(),
                d.ioEngine(), u.rateLimiter() != null ? u.rateLimiter() : d.rateLimiter(), d.socket()));
    }

    public synchronized void putNetworkInterface(String pathId, NetworkInterface n) {
        requireNotStarted();
        requireId("iface_id", pathId);
        if (n.ifaceId() == null) {
            throw ApiException.badRequest("missing field 'iface_id'");
        }
        if (!pathId.equals(n.ifaceId())) {
            throw ApiException.badRequest("iface_id '" + n.ifaceId() + "' in the body does not match '" + pathId + "' in the path");
        }
        if (n.hostDevName() == null) {
            throw ApiException.badRequest("missing field 'host_dev_name'");
        }
        if (!TAP_NAME.matcher(n.hostDevName()).matches()) {
            throw ApiException.badRequest("host_dev_name '" + n.hostDevName()
                    + "': not a network device name (1 to 15 of letters, digits, _ . : -)");
        }
        if (n.guestMac() != null && !MAC.matcher(n.guestMac()).matches()) {
            throw ApiException.badRequest("guest_mac '" + n.guestMac() + "': not a MAC address (like 06:00:ac:10:00:02)");
        }
        checkObject("rx_rate_limiter", n.rxRateLimiter());
        checkObject("tx_rate_limiter", n.txRateLimiter());
        for (NetworkInterface other : nics.values()) {
            if (!other.ifaceId().equals(pathId)) {
                if (other.hostDevName().equals(n.hostDevName())) {
                    throw ApiException.badRequest("host_dev_name '" + n.hostDevName() + "' is already used by interface '"
                            + other.ifaceId() + "'");
                }
                if (n.guestMac() != null && n.guestMac().equalsIgnoreCase(other.guestMac())) {
                    throw ApiException.badRequest("guest_mac '" + n.guestMac() + "' is already used by interface '"
                            + other.ifaceId() + "'");
                }
            }
        }
        nics.put(pathId, n);
        log.info("network_interface_set", "id", id, "iface_id", pathId, "host_dev_name", n.hostDevName());
    }

    public synchronized void patchNetworkInterface(String pathId, NetworkInterfaceUpdate u) {
        requireId("iface_id", pathId);
        if (u.ifaceId() == null || !u.ifaceId().equals(pathId)) {
            throw ApiException.badRequest("iface_id in the body must be given and match '" + pathId + "' in the path");
        }
        NetworkInterface n = nics.get(pathId);
        if (n == null) {
            throw ApiException.badRequest("no network interface '" + pathId + "'");
        }
        checkObject("rx_rate_limiter", u.rxRateLimiter());
        checkObject("tx_rate_limiter", u.txRateLimiter());
        nics.put(pathId, new NetworkInterface(n.ifaceId(), n.hostDevName(), n.guestMac(),
                u.rxRateLimiter() != null ? u.rxRateLimiter() : n.rxRateLimiter(),
                u.txRateLimiter() != null ? u.txRateLimiter() : n.txRateLimiter()));
    }

    public synchronized void putLogger(LoggerConfig l) {
        requireNotStarted();
        EventLog.Level level = EventLog.Level.INFO;
        if (l.level() != null) {
            try {
                level = EventLog.Level.parseOrOff(l.level());
            } catch (IllegalArgumentException e) {
                throw ApiException.badRequest("level '" + l.level() + "': not one of Error, Warning, Info, Debug, Trace, Off");
            }
        }
        if (l.logPath() != null) {
            Path p = writablePath("log_path", l.logPath());
            try {
                log.redirect(p, level);
            } catch (IOException e) {
                throw ApiException.badRequest("log_path " + l.logPath() + ": cannot open: " + e.getMessage());
            }
        }
        logger = l;
        log.info("logger_set", "id", id, "log_path", l.logPath(), "level", l.level());
    }

    public synchronized void putMetrics(MetricsConfig m) {
        requireNotStarted();
        if (m.metricsPath() == null || m.metricsPath().isBlank()) {
            throw ApiException.badRequest("missing field 'metrics_path'");
        }
        if (metrics != null) {
            throw ApiException.badRequest("metrics are already configured (metrics_path " + metrics.metricsPath() + ")");
        }
        metricsPath = writablePath("metrics_path", m.metricsPath());
        metrics = m;
        log.info("metrics_set", "id", id, "metrics_path", m.metricsPath());
    }

    // ---- actions ----

    public void action(InstanceActionInfo a) {
        if (a.actionType() == null) {
            throw ApiException.badRequest("missing field 'action_type'");
        }
        switch (a.actionType()) {
            case "InstanceStart" -> start();
            case "SendCtrlAltDel" -> sendCtrlAltDel();
            case "FlushMetrics" -> flushMetrics();
            default -> throw ApiException.badRequest("action_type '" + a.actionType()
                    + "': not one of InstanceStart, SendCtrlAltDel, FlushMetrics");
        }
    }

    /** Validates the whole configuration and boots it; returns once the vCPUs run. */
    public void start() {
        GuestSpec spec;
        synchronized (this) {
            if (starting) {
                throw ApiException.badRequest("InstanceStart is already in progress");
            }
            requireNotStarted();
            if (bootSource == null) {
                throw ApiException.badRequest("Cannot start microvm without kernel configuration (PUT /boot-source first)");
            }
            VmConfig config = validate(bootSource, machine);
            for (Drive d : drives.values()) {
                checkBackingFile("drive " + d.driveId() + " path_on_host", d.pathOnHost(), d.readOnly());
            }
            config = GuestDevices.withDevices(config, new ArrayList<>(drives.values()), new ArrayList<>(nics.values()));
            spec = new GuestSpec(config, new ArrayList<>(drives.values()), new ArrayList<>(nics.values()),
                    Boolean.TRUE.equals(machine.trackDirtyPages()));
            starting = true;
        }
        try {
            RunningGuest g = launcher.launch(spec);
            synchronized (this) {
                guest = g;
                if (state == State.NOT_STARTED) {
                    state = State.RUNNING;
                }
            }
            log.info("instance_started", "id", id, "vcpu_count", spec.config().cpus(),
                    "mem_size_mib", spec.config().memoryBytes() >> 20);
        } finally {
            synchronized (this) {
                starting = false;
            }
        }
    }

    public void sendCtrlAltDel() {
        RunningGuest g = requireStarted();
        if (!g.sendCtrlAltDel()) {
            throw ApiException.badRequest("the guest's keyboard buffer is full: Ctrl+Alt+Del not sent, try again");
        }
        log.info("ctrl_alt_del_sent", "id", id);
    }

    public synchronized void flushMetrics() {
        if (metricsPath == null) {
            throw ApiException.badRequest("metrics are not configured (PUT /metrics with a metrics_path first)");
        }
        try {
            Files.writeString(metricsPath, Json.write(metricsLine()) + "\n",
                    java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND);
        } catch (IOException e) {
            throw ApiException.badRequest("metrics_path " + metricsPath + ": cannot write: " + e.getMessage());
        }
    }

    /**
     * jkvm extension GET /jkvm/vcpus (and SIGUSR1): each vCPU's activity and KVM state plus the
     * interrupt controllers; a report without vCPUs before InstanceStart or after the guest ended.
     */
    public MachineReport vcpuReport(Duration answerTimeout) throws InterruptedException {
        RunningGuest g = guest;
        return g == null ? MachineReport.none(state.apiName) : g.report(answerTimeout);
    }

    /** What FlushMetrics writes and GET /jkvm/metrics returns. */
    public Map<String, Object> metricsLine() {
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("utc_timestamp_ms", System.currentTimeMillis());
        line.put("id", id);
        line.put("state", state.apiName);
        RunningGuest g = guest;
        VmMetrics m = g == null ? null : g.metrics();
        line.put("vcpu_count", m != null ? m.vcpus() : machineConfig().vcpuCount());
        line.put("uptime_ms", m != null ? m.uptimeMillis() : 0);
        line.put("boots", m != null ? m.boots() : 0);
        line.put("exits", m != null ? m.exits() : Map.of());
        Map<String, Object> devices = new LinkedHashMap<>();
        if (m != null) {
            m.devices().forEach((name, s) -> devices.put(name, Map.of("reads", s.reads(), "writes", s.writes(),
                    "read_bytes", s.readBytes(), "write_bytes", s.writeBytes())));
        }
        line.put("devices", devices);
        return line;
    }

    public void changeState(VmStateChange change) {
        if (change.state() == null) {
            throw ApiException.badRequest("missing field 'state'");
        }
        switch (change.state()) {
            case "Paused" -> pause();
            case "Resumed" -> resume();
            default -> throw ApiException.badRequest("state '" + change.state() + "': not one of Paused, Resumed");
        }
    }

    public synchronized void pause() {
        RunningGuest g = requireStarted();
        try {
            g.pause();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw ApiException.badRequest("interrupted while pausing");
        }
        if (state == State.RUNNING) {
            state = State.PAUSED;
        }
        log.info("instance_paused", "id", id);
    }

    public synchronized void resume() {
        RunningGuest g = requireStarted();
        g.resume();
        if (state == State.PAUSED) {
            state = State.RUNNING;
        }
        log.info("instance_resumed", "id", id);
    }

    // ---- snapshots ----

    /**
     * {@code PUT /snapshot/create}: the microVM must be paused; it stays paused. As in
     * Firecracker, a Diff needs {@code track_dirty_pages} (or a load with
     * {@code enable_diff_snapshots}) and holds only the pages dirtied since the previous snapshot.
     */
    public synchronized void createSnapshot(SnapshotCreateParams p) {
        RunningGuest g = requireStarted();
        String type = p.snapshotType() == null ? "Full" : p.snapshotType();
        checkOneOf("snapshot_type", type, "Full", "Diff");
        boolean diff = type.equals("Diff");
        if (diff && !Boolean.TRUE.equals(machine.trackDirtyPages())) {
            throw ApiException.badRequest("snapshot_type 'Diff' needs dirty page tracking: set track_dirty_pages"
                    + " in /machine-config before InstanceStart (or enable_diff_snapshots on /snapshot/load)");
        }
        if (diff && Boolean.TRUE.equals(p.encrypt())) {
            throw ApiException.badRequest("encrypt: Diff snapshots are written in clear (HMAC-SHA256) only; use a Full"
                    + " snapshot to encrypt");
        }
        if (p.snapshotPath() == null || p.snapshotPath().isBlank()) {
            throw ApiException.badRequest("missing field 'snapshot_path'");
        }
        if (p.memFilePath() == null || p.memFilePath().isBlank()) {
            throw ApiException.badRequest("missing field 'mem_file_path'");
        }
        Path statePath = writablePath("snapshot_path", p.snapshotPath());
        Path memPath = writablePath("mem_file_path", p.memFilePath());
        if (statePath.normalize().equals(memPath.normalize())) {
            throw ApiException.badRequest("snapshot_path and mem_file_path must be different files");
        }
        if (state != State.PAUSED) {
            throw ApiException.badRequest("the microVM must be paused (PATCH /vm {\"state\": \"Paused\"}) before creating a snapshot");
        }
        SnapshotKey key = requireKey();
        Protection protection = Boolean.TRUE.equals(p.encrypt()) ? Protection.AES_256_GCM : Protection.HMAC_SHA256;
        long t0 = System.nanoTime();
        try {
            g.snapshot(new SnapshotRequest(statePath, memPath, key, protection, diff, false));
        } catch (IOException | RuntimeException e) {
            if (e instanceof ApiException a) {
                throw a;
            }
            throw ApiException.badRequest("cannot create the snapshot: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw ApiException.badRequest("interrupted while creating the snapshot");
        }
        log.info("snapshot_created", "id", id, "snapshot_type", type, "snapshot_path", statePath, "mem_file_path", memPath,
                "protection", protection, "ms", (System.nanoTime() - t0) / 1_000_000);
    }

    /**
     * {@code PUT /snapshot/load}: only before anything boot-specific is configured. Restores the
     * machine, re-opens the disks and TAP devices the snapshot recorded, and runs or parks it.
     */
    public void loadSnapshot(SnapshotLoadParams p) {
        SnapshotRequest request;
        boolean resume = Boolean.TRUE.equals(p.resumeVm());
        synchronized (this) {
            requireNotStarted();
            if (starting) {
                throw ApiException.badRequest("InstanceStart or a snapshot load is already in progress");
            }
            if (bootSource != null || !drives.isEmpty() || !nics.isEmpty()) {
                throw ApiException.badRequest("Loading a microVM snapshot not allowed after configuring boot-specific resources"
                        + " (boot-source, drives, network-interfaces)");
            }
            if (p.snapshotPath() == null || p.snapshotPath().isBlank()) {
                throw ApiException.badRequest("missing field 'snapshot_path'");
            }
            String mem;
            if (p.memBackend() != null && p.memFilePath() != null) {
                throw ApiException.badRequest("give either mem_backend or mem_file_path, not both");
            } else if (p.memBackend() != null) {
                MemoryBackend b = p.memBackend();
                if (b.backendType() == null) {
                    throw ApiException.badRequest("missing field 'mem_backend.backend_type'");
                }
                if (b.backendType().equals("Uffd")) {
                    throw ApiException.badRequest("mem_backend.backend_type 'Uffd' is not supported (use File)");
                }
                checkOneOf("mem_backend.backend_type", b.backendType(), "File", "Uffd");
                if (b.backendPath() == null || b.backendPath().isBlank()) {
                    throw ApiException.badRequest("missing field 'mem_backend.backend_path'");
                }
                mem = b.backendPath();
                checkReadableFile("mem_backend.backend_path", mem);
            } else if (p.memFilePath() != null) {
                mem = p.memFilePath();
                checkReadableFile("mem_file_path", mem);
            } else {
                throw ApiException.badRequest("missing field 'mem_backend' (or the older 'mem_file_path')");
            }
            checkReadableFile("snapshot_path", p.snapshotPath());
            // enable_diff_snapshots: Firecracker's older name for track_dirty_pages on a restored VM.
            boolean track = Boolean.TRUE.equals(p.enableDiffSnapshots());
            request = new SnapshotRequest(Path.of(p.snapshotPath()), Path.of(mem), requireKey(), Protection.HMAC_SHA256,
                    false, track);
            starting = true;
        }
        try {
            GuestLauncher.Restored r = launcher.restore(request, resume);
            synchronized (this) {
                guest = r.guest();
                VmConfig c = r.config();
                machine = MachineConfiguration.DEFAULT.patchedWith(new MachineConfiguration(c.cpus(),
                        (int) (c.memoryBytes() >> 20), null, request.trackDirtyPages(), null, null));
                bootSource = new BootSource(c.kernel().toString(), c.initrd().map(Path::toString).orElse(null), c.cmdline());
                if (state == State.NOT_STARTED) {
                    state = resume ? State.RUNNING : State.PAUSED;
                }
            }
            log.info("snapshot_loaded", "id", id, "snapshot_path", request.stateFile(), "resumed", resume);
        } finally {
            synchronized (this) {
                starting = false;
            }
        }
    }

    private SnapshotKey requireKey() {
        SnapshotKey k = snapshotKey;
        if (k == null) {
            throw ApiException.badRequest("no snapshot key: start the VMM with --snapshot-key FILE (32+ secret bytes, mode 0600)");
        }
        return k;
    }

    private static void checkReadableFile(String field, String path) {
        checkBackingFile(field, path, true);
    }

    public synchronized FullVmConfiguration fullConfig() {
        return new FullVmConfiguration(bootSource, machine, List.copyOf(drives.values()), List.copyOf(nics.values()),
                logger, metrics);
    }

    // ---- checks ----

    private void requireNotStarted() {
        if (state == State.STOPPED) {
            throw ApiException.badRequest("the microVM has stopped");
        }
        if (state != State.NOT_STARTED) {
            throw ApiException.badRequest(AFTER_START);
        }
    }

    private RunningGuest requireStarted() {
        if (state == State.STOPPED) {
            throw ApiException.badRequest("the microVM has stopped");
        }
        RunningGuest g = guest;
        if (g == null) {
            throw ApiException.badRequest(BEFORE_START);
        }
        return g;
    }

    private static void requireId(String field, String id) {
        if (!ID.matcher(id).matches()) {
            throw ApiException.badRequest(field + " '" + id + "': use 1 to 64 letters, digits, _ or -");
        }
    }

    private void checkMachineOnly(MachineConfiguration m) {
        if (m.vcpuCount() < 1 || m.vcpuCount() > Math.min(32, limits.maxVcpus())) {
            throw ApiException.badRequest("vcpu_count " + m.vcpuCount() + ": must be between 1 and "
                    + Math.min(32, limits.maxVcpus()));
        }
        if (m.memSizeMib() < VmConfigValidator.MIN_MEMORY >> 20) {
            throw ApiException.badRequest("mem_size_mib " + m.memSizeMib() + ": too small, the minimum is "
                    + (VmConfigValidator.MIN_MEMORY >> 20));
        }
        if ((long) m.memSizeMib() << 20 > limits.hostMemoryBytes()) {
            throw ApiException.badRequest("mem_size_mib " + m.memSizeMib() + ": more than this host's "
                    + (limits.hostMemoryBytes() >> 20) + " MiB of RAM");
        }
        if (Boolean.TRUE.equals(m.smt())) {
            throw ApiException.badRequest("smt: simultaneous multithreading is not supported (use false)");
        }
        if (m.cpuTemplate() != null && !m.cpuTemplate().equals("None")) {
            throw ApiException.badRequest("cpu_template '" + m.cpuTemplate() + "': CPU templates are not supported (use None)");
        }
        checkOneOf("huge_pages", m.hugePages(), "None");
    }

    /** The whole boot configuration through the same validator as {@code jkvm run}. */
    private VmConfig validate(BootSource b, MachineConfiguration m) {
        checkMachineOnly(m);
        try {
            Path kernel = Path.of(b.kernelImagePath());
            Path initrd = b.initrdPath() == null ? null : Path.of(b.initrdPath());
            String cmdline = b.bootArgs() == null ? VmConfig.DEFAULT_CMDLINE : b.bootArgs();
            return new VmConfigValidator(limits).validate(API_FIELDS, kernel, initrd, cmdline,
                    m.vcpuCount(), m.memSizeMib() + "M", onReboot, false);
        } catch (ConfigException e) {
            throw ApiException.badRequest(e.getMessage());
        } catch (java.nio.file.InvalidPathException e) {
            throw ApiException.badRequest("not a usable path: " + e.getMessage());
        }
    }

    private static void checkBackingFile(String field, String path, boolean readOnly) {
        Path p;
        try {
            p = Path.of(path);
        } catch (java.nio.file.InvalidPathException e) {
            throw ApiException.badRequest(field + ": not a usable path: " + e.getMessage());
        }
        if (!p.isAbsolute()) {
            throw ApiException.badRequest(field + " " + path + ": must be an absolute path");
        }
        if (!Files.exists(p)) {
            throw ApiException.badRequest(field + " " + path + ": no such file");
        }
        if (Files.isDirectory(p)) {
            throw ApiException.badRequest(field + " " + path + ": is a directory");
        }
        if (!Files.isReadable(p)) {
            throw ApiException.badRequest(field + " " + path + ": not readable (permission denied)");
        }
        if (!readOnly && !Files.isWritable(p)) {
            throw ApiException.badRequest(field + " " + path + ": not writable (set is_read_only to true, or fix its permissions)");
        }
    }

    private static Path writablePath(String field, String path) {
        Path p;
        try {
            p = Path.of(path);
        } catch (java.nio.file.InvalidPathException e) {
            throw ApiException.badRequest(field + ": not a usable path: " + e.getMessage());
        }
        if (!p.isAbsolute()) {
            throw ApiException.badRequest(field + " " + path + ": must be an absolute path");
        }
        if (Files.isDirectory(p)) {
            throw ApiException.badRequest(field + " " + path + ": is a directory");
        }
        Path parent = p.toAbsolutePath().getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            throw ApiException.badRequest(field + " " + path + ": its directory does not exist");
        }
        if (Files.exists(p) ? !Files.isWritable(p) : !Files.isWritable(parent)) {
            throw ApiException.badRequest(field + " " + path + ": not writable (permission denied)");
        }
        return p;
    }

    private static void checkOneOf(String field, String value, String... allowed) {
        if (value == null) {
            return;
        }
        for (String a : allowed) {
            if (a.equals(value)) {
                return;
            }
        }
        throw ApiException.badRequest(field + " '" + value + "': not one of " + String.join(", ", allowed));
    }

    private static void checkObject(String field, com.fasterxml.jackson.databind.JsonNode node) {
        if (node != null && !node.isObject() && !node.isNull()) {
            throw ApiException.badRequest("field '" + field + "': wrong type, expected a JSON object");
        }
    }
}
