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
    /** jkvm run --trust-source-paths: an unconfigured destination takes the source's recorded host paths. */
    private volatile boolean trustSourcePaths;
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
     * The destination for an incoming migration. Refused, with the reason, when this VMM already
     * runs a guest, when the source's machine exceeds this host, when a client configured a
     * different machine here (PUT /machine-config is optional: without it the source's is taken),
     * or when this VMM's own devices do not match the ones the source announced
     * ({@link #ownConfiguration}). This VMM decides its host resources: its boot-source, drives and
     * network interfaces, configured through its own API; the paths the source recorded are only
     * used with {@link #setTrustSourcePaths} and nothing configured here.
     */
    public io.jkvm.migration.MigrationTarget incomingTarget(io.jkvm.snapshot.MachineConfig source,
            io.jkvm.migration.VmShape devices) {
        VmConfig own;
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
            own = ownConfiguration(source, devices);
            starting = true;
        }
        try {
            return launcher.receive(source, own, g -> {
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

    /**
     * This VMM's configuration for a VM the source describes, in the source's PCI slot order, or
     * null when it has none and trusts the source's paths. The machine is the source's; the
     * kernel, initrd, boot arguments, disk images and TAP devices are this VMM's. The devices must
     * have the source's shape: the same drives by drive_id (the virtio-blk serial), each with the
     * same read-only flag and size, the same number of network interfaces (in the order they were
     * configured; a guest_mac given here must be the source's, otherwise the source's is taken), no
     * device the API cannot configure. Each mismatch is refused naming it.
     */
    private VmConfig ownConfiguration(io.jkvm.snapshot.MachineConfig source, io.jkvm.migration.VmShape shape) {
        if (bootSource == null && drives.isEmpty() && nics.isEmpty()) {
            if (trustSourcePaths) {
                return null;
            }
            throw new io.jkvm.migration.MigrationException("this VMM has no configuration of its own for the incoming VM:"
                    + " give it its boot-source, drives and network-interfaces through the API before the source connects"
                    + " (or start it with --trust-source-paths to use the host paths the source recorded)");
        }
        if (bootSource == null) {
            throw new io.jkvm.migration.MigrationException("this VMM has no boot-source (PUT /boot-source): the incoming VM"
                    + " needs this host's kernel");
        }
        if (shape == null) {
            throw new io.jkvm.migration.MigrationException("the source did not describe its devices (not a Linux VM this"
                    + " VMM can run)");
        }
        try {
            int mib = (int) Math.min(Integer.MAX_VALUE, source.memoryBytes() >> 20);
            VmConfig base = validate(bootSource, MachineConfiguration.DEFAULT.patchedWith(
                    new MachineConfiguration(source.cpus(), mib, null, null, null, null)));
            base = new VmConfig(base.kernel(), base.initrd(), base.cmdline(), source.cpus(), source.memoryBytes(),
                    base.onReboot(), base.nested());
            List<Drive> ordered = matchDrives(shape);
            List<NetworkInterface> interfaces = matchInterfaces(shape);
            if (shape.rng()) {
                throw refuse("the source has a virtio-rng device, which this VMM's API cannot configure");
            }
            if (shape.virtioConsole()) {
                throw refuse("the source's console is virtio-console (hvc0), which this VMM's API cannot configure");
            }
            VmConfig own = GuestDevices.withDevices(base, ordered, interfaces);
            List<String> slots = own.devices().disks().stream().map(io.jkvm.storage.DiskConfig::id).toList();
            List<String> wanted = shape.disks().stream().map(io.jkvm.migration.VmShape.Disk::id).toList();
            if (!slots.equals(wanted)) {
                throw refuse("is_root_device differs: here the drives would be in the PCI slots " + slots
                        + ", on the source they are in " + wanted);
            }
            return own;
        } catch (ApiException | ConfigException e) {
            throw refuse(e.getMessage());
        }
    }

    /** This VMM's drives in the source's slot order, matched by drive_id; every one must match. */
    private List<Drive> matchDrives(io.jkvm.migration.VmShape shape) {
        Map<String, Drive> bySerial = new LinkedHashMap<>();
        for (Drive d : drives.values()) {
            bySerial.put(GuestDevices.serial(d.driveId()), d);
        }
        List<Drive> ordered = new ArrayList<>();
        for (int i = 0; i < shape.disks().size(); i++) {
            io.jkvm.migration.VmShape.Disk s = shape.disks().get(i);
            if (s.id() == null) {
                throw refuse("the source's disk " + (i + 1) + " has no id, so no drive here can be matched to it");
            }
            Drive d = bySerial.remove(s.id());
            if (d == null) {
                throw refuse("the source has drive '" + s.id() + "', this VMM has no drive with that drive_id (PUT /drives/"
                        + s.id() + ")");
            }
            if (d.readOnly() != s.readOnly()) {
                throw refuse("drive '" + d.driveId() + "' is " + (d.readOnly() ? "read-only" : "writable") + " here and "
                        + (s.readOnly() ? "read-only" : "writable") + " on the source (is_read_only)");
            }
            checkBackingFile("drive " + d.driveId() + " path_on_host", d.pathOnHost(), d.readOnly());
            long size;
            try {
                size = Files.size(Path.of(d.pathOnHost()));
            } catch (IOException e) {
                throw refuse("drive '" + d.driveId() + "' path_on_host " + d.pathOnHost() + ": cannot read its size: "
                        + e.getMessage());
            }
            if (size / io.jkvm.device.virtio.VirtioBlock.SECTOR != s.sizeBytes() / io.jkvm.device.virtio.VirtioBlock.SECTOR) {
                throw refuse("drive '" + d.driveId() + "' (" + d.pathOnHost() + ") has " + size + " bytes, the source's has "
                        + s.sizeBytes());
            }
            ordered.add(d);
        }
        if (!bySerial.isEmpty()) {
            throw refuse("drive '" + bySerial.values().iterator().next().driveId()
                    + "' is configured here, but the source has no such drive");
        }
        return ordered;
    }

    /** This VMM's interfaces, in the order configured, with the source's MACs. */
    private List<NetworkInterface> matchInterfaces(io.jkvm.migration.VmShape shape) {
        if (nics.size() != shape.nics().size()) {
            throw refuse("the source has " + shape.nics().size() + " network interface(s), this VMM has " + nics.size()
                    + " (PUT /network-interfaces/{iface_id})");
        }
        List<NetworkInterface> out = new ArrayList<>();
        int i = 0;
        for (NetworkInterface n : nics.values()) {
            io.jkvm.net.MacAddress mac = shape.nics().get(i++).mac();
            if (n.guestMac() != null && !io.jkvm.net.MacAddress.parse(n.guestMac()).equals(mac)) {
                throw refuse("network interface '" + n.ifaceId() + "' has guest_mac " + n.guestMac().toLowerCase(java.util.Locale.ROOT)
                        + " here, the source's interface " + i + " has " + mac);
            }
            out.add(new NetworkInterface(n.ifaceId(), n.hostDevName(), mac.toString(), n.rxRateLimiter(), n.txRateLimiter()));
        }
        return out;
    }

    private static io.jkvm.migration.MigrationException refuse(String why) {
        return new io.jkvm.migration.MigrationException(why);
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
        checkRateLimiter("rate_limiter", d.rateLimiter());
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
        checkRateLimiter("rate_limiter", u.rateLimiter());
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
        checkRateLimiter("rx_rate_limiter", n.rxRateLimiter());
        checkRateLimiter("tx_rate_limiter", n.txRateLimiter());
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
        checkRateLimiter("rx_rate_limiter", u.rxRateLimiter());
        checkRateLimiter("tx_rate_limiter", u.txRateLimiter());
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
        Path kernel = usablePath(API_FIELDS.kernel(), b.kernelImagePath());
        Path initrd = b.initrdPath() == null ? null : usablePath(API_FIELDS.initrd(), b.initrdPath());
        try {
            String cmdline = b.bootArgs() == null ? VmConfig.DEFAULT_CMDLINE : b.bootArgs();
            return new VmConfigValidator(limits).validate(API_FIELDS, kernel, initrd, cmdline,
                    m.vcpuCount(), m.memSizeMib() + "M", onReboot, false);
        } catch (ConfigException e) {
            throw ApiException.badRequest(e.getMessage());
        }
    }

    /** {@code value} as a path, or a 400 naming {@code field} (NUL bytes, unpaired surrogates...). */
    private static Path usablePath(String field, String value) {
        try {
            return Path.of(value);
        } catch (java.nio.file.InvalidPathException e) {
            throw ApiException.badRequest(field + ": not a usable path (it has characters a file name cannot have)");
        }
    }

    private static void checkBackingFile(String field, String path, boolean readOnly) {
        Path p = usablePath(field, path);
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
        Path p = usablePath(field, path);
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

    private static void checkRateLimiter(String field, RateLimiter limiter) {
        if (limiter != null) {
            limiter.validate(field);
        }
    }
}
