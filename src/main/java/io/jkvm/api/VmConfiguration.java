package io.jkvm.api;

import io.jkvm.api.VmmAction.*;
import io.jkvm.config.BalloonConfig;
import io.jkvm.config.ConfigException;
import io.jkvm.config.HostLimits;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VmConfig;
import io.jkvm.config.VsockConfig;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A VM's pre-boot configuration as the API builds it, section by section, each checked as it
 * arrives: boot source, machine, drives, network interfaces, logger and metrics. Applies the
 * {@link VmmAction.Configure} actions (an exhaustive switch) and the drive and interface updates;
 * whether the VM's phase allows them is the handlers' business, not this class's.
 * {@link #toGuestSpec} checks the whole and makes what InstanceStart boots.
 *
 * <p>Also usable alone: the daemon validates a VM definition by applying its actions to a fresh
 * one ({@link ConfigFile#validate}). Thread-safe (methods synchronize on this object).
 */
public final class VmConfiguration {
    private static final Pattern MAC = Pattern.compile("([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}");
    private static final Pattern TAP_NAME = Pattern.compile("[A-Za-z0-9_.:-]{1,15}");

    private final String id;
    private final BootValidation boot;
    private final EventLog log;
    private BootSource bootSource;
    private MachineConfiguration machine = MachineConfiguration.DEFAULT;
    private final Map<String, Drive> drives = new LinkedHashMap<>();
    private final Map<String, NetworkInterface> nics = new LinkedHashMap<>();
    private LoggerConfig logger;
    private MetricsConfig metrics;
    private Path metricsPath;
    private MetricsSink metricsSink;
    /** {@code PUT /entropy} and {@code PUT /serial}, or null. */
    private EntropyDevice entropy;
    private SerialConfig serial;
    private Path serialOutPath;
    /** {@code PUT /vsock} as given (for GET /vm/config) and as validated, or null. */
    private VsockDevice vsock;
    private VsockConfig vsockConfig;
    /** The metadata store (any state) and {@code PUT /mmds/config} as normalized (defaults filled in), or null. */
    private final io.jkvm.mmds.MmdsStore mmds = new io.jkvm.mmds.MmdsStore(UdsHttpServer.MAX_BODY);
    private MmdsConfig mmdsConfig;
    private int mmdsAddress;
    /** {@code PUT /balloon} as validated (a PATCH after boot updates it), or null. */
    private BalloonConfig balloon;
    /** {@code PUT /cpu-config} as given and as checked, or null (then machine-config cpu_template, if any, applies). */
    private CpuConfig customCpu;
    private io.jkvm.arch.x86.cpuid.CpuTemplate customTemplate;

    /** Whether a client set the machine configuration (an incoming migration must then match it). */
    private boolean machineConfigured;
    /**
     * How this VMM's virtio devices reach the guest: a VMM-wide choice made on its command line
     * (Firecracker: virtio-mmio unless {@code --enable-pci}), not part of the API's configuration.
     */
    private volatile io.jkvm.config.VirtioTransport transport = io.jkvm.config.VirtioTransport.PCI;

    public VmConfiguration(String id, HostLimits limits, OnReboot onReboot, EventLog log) {
        this.id = id;
        this.boot = new BootValidation(limits, onReboot);
        this.log = log;
    }

    /** A VMM-wide command-line choice too (jkvm run --display), not in Firecracker's configuration: null for none. */
    private volatile io.jkvm.config.DisplayConfig display;

    /** The display the guests this VMM boots get, or null (set before the API serves). */
    public void setDisplay(io.jkvm.config.DisplayConfig d) {
        display = d;
    }

    /** The transport the guests this VMM boots have their virtio devices on (set before the API serves). */
    public void setVirtioTransport(io.jkvm.config.VirtioTransport t) {
        transport = java.util.Objects.requireNonNull(t, "transport");
    }

    public io.jkvm.config.VirtioTransport virtioTransport() {
        return transport;
    }

    /** Applies one configuration action, or refuses it naming the field. */
    public synchronized void apply(Configure action) {
        switch (action) {
            case ConfigureBootSource a -> putBootSource(a.bootSource());
            case ConfigureMachine a -> putMachine(a.machine());
            case UpdateMachine a -> setMachine(machine.patchedWith(a.patch()), a.patch().cpuTemplate());
            case InsertDrive a -> putDrive(a.pathId(), a.drive());
            case InsertNetworkInterface a -> putNetworkInterface(a.pathId(), a.nic());
            case ConfigureLogger a -> putLogger(a.logger());
            case ConfigureMetrics a -> putMetrics(a.metrics());
            case ConfigureEntropy a -> putEntropy(a.entropy());
            case ConfigureSerial a -> putSerial(a.serial());
            case ConfigureVsock a -> putVsock(a.vsock());
            case ConfigureMmds a -> putMmdsConfig(a.mmds());
            case ConfigureBalloon a -> putBalloon(a.balloon());
            case ConfigureCpu a -> putCpuConfig(a.cpuConfig());
        }
    }

    /**
     * {@code PUT /mmds/config}, as Firecracker checks it: {@code network_interfaces} required,
     * not empty, each a configured interface; {@code ipv4_address} link-local (default
     * 169.254.169.254); {@code version} V1 (default) or V2. The version and {@code imds_compat}
     * take effect in the store at once.
     */
    private void putMmdsConfig(MmdsConfig c) {
        String version = c.version() == null ? "V1" : c.version();
        Fields.checkOneOf("version", version, "V1", "V2");
        if (c.networkInterfaces() == null) {
            throw Fields.missing("network_interfaces");
        }
        if (c.networkInterfaces().isEmpty()) {
            throw ApiException.badField("network_interfaces", "network_interfaces: empty (name at least one network"
                    + " interface that forwards requests to the MMDS)");
        }
        for (String iface : c.networkInterfaces()) {
            if (iface == null || !nics.containsKey(iface)) {
                throw ApiException.badField("network_interfaces", "network_interfaces: '" + iface + "' is not a configured"
                        + " network interface (PUT /network-interfaces/" + iface + " first)");
            }
        }
        int address = io.jkvm.mmds.LinkLocal.DEFAULT;
        if (c.ipv4Address() != null) {
            try {
                address = io.jkvm.mmds.LinkLocal.parse(c.ipv4Address());
            } catch (IllegalArgumentException e) {
                throw ApiException.badField("ipv4_address", "ipv4_address '" + c.ipv4Address() + "': " + e.getMessage());
            }
        }
        boolean compat = Boolean.TRUE.equals(c.imdsCompat());
        mmds.configure(io.jkvm.mmds.MmdsVersion.valueOf(version), compat);
        mmdsConfig = new MmdsConfig(version, List.copyOf(new java.util.LinkedHashSet<>(c.networkInterfaces())),
                io.jkvm.mmds.LinkLocal.format(address), compat);
        mmdsAddress = address;
        log.info("mmds_config_set", "id", id, "version", version, "network_interfaces", c.networkInterfaces(),
                "ipv4_address", mmdsConfig.ipv4Address());
    }

    /** {@code PUT /mmds} or {@code PATCH /mmds}, in any state; over the size limit is a 413 as in Firecracker. */
    void updateMmds(VmmAction action) {
        try {
            switch (action) {
                case PutMmds p -> mmds.put(p.value());
                case PatchMmds p -> mmds.patch(p.patch());
                default -> throw new IllegalArgumentException(action.name() + " is not an MMDS update");
            }
        } catch (io.jkvm.mmds.MmdsException e) {
            throw switch (e.reason()) {
                case TOO_LARGE -> ApiException.tooLarge(e.getMessage());
                case NOT_INITIALIZED -> ApiException.notAllowed(e.getMessage() + " (PUT /mmds first)");
            };
        }
    }

    /** {@code GET /mmds}: the document, {@code {}} before any PUT (as Firecracker answers). */
    Object mmdsDocument() {
        com.fasterxml.jackson.databind.JsonNode v = mmds.value();
        return v == null ? java.util.Map.of() : v;
    }

    /** The metadata store (its size limit is the VMM's {@code --mmds-size-limit}). */
    public io.jkvm.mmds.MmdsStore mmds() {
        return mmds;
    }

    /** The interfaces' TAP devices that answer for the MMDS, with its address and store; null without {@code PUT /mmds/config}. */
    private io.jkvm.mmds.MmdsBinding mmdsBinding() {
        if (mmdsConfig == null) {
            return null;
        }
        java.util.Map<String, String> byTap = new java.util.LinkedHashMap<>();
        for (String iface : mmdsConfig.networkInterfaces()) {
            byTap.put(nics.get(iface).hostDevName(), iface);
        }
        return new io.jkvm.mmds.MmdsBinding(mmdsAddress, byTap, mmds);
    }

    /** {@code PUT /mmds/config} as normalized, or null when the metadata service is not configured. */
    synchronized MmdsConfig mmdsConfig() {
        return mmdsConfig;
    }

    private void putBootSource(BootSource b) {
        if (b.kernelImagePath() == null || b.kernelImagePath().isBlank()) {
            throw Fields.missing("kernel_image_path");
        }
        boot.validate(b, machine);
        bootSource = b;
        log.info("boot_source_set", "id", id, "kernel_image_path", b.kernelImagePath());
    }

    private void putMachine(MachineConfiguration m) {
        if (m.vcpuCount() == null) {
            throw Fields.missing("vcpu_count");
        }
        if (m.memSizeMib() == null) {
            throw Fields.missing("mem_size_mib");
        }
        // As Firecracker (MachineConfig::update): a PUT without cpu_template keeps the template
        // configured before, static or custom.
        MachineConfiguration full = MachineConfiguration.DEFAULT.patchedWith(m);
        if (m.cpuTemplate() == null) {
            full = full.patchedWith(new MachineConfiguration(null, null, null, null, machine.cpuTemplate(), null));
        }
        setMachine(full, m.cpuTemplate());
    }

    /**
     * @param templateGiven the request's cpu_template: a static one replaces a custom template,
     *        "None" drops both, absent keeps either (Firecracker: the last configured applies)
     */
    private void setMachine(MachineConfiguration m, String templateGiven) {
        boot.checkMachine(m);
        if (balloon != null && m.memSizeMib() != null && m.memSizeMib() < balloon.amountMib()) {
            throw ApiException.badField("mem_size_mib", "mem_size_mib " + m.memSizeMib()
                    + ": smaller than the balloon's amount_mib " + balloon.amountMib());
        }
        if (bootSource != null) {
            boot.validate(bootSource, m);
        }
        if (templateGiven != null) {
            customCpu = null;
            customTemplate = null;
        }
        if ("None".equals(m.cpuTemplate())) {
            m = m.withoutCpuTemplate();
        }
        machine = m;
        machineConfigured = true;
        log.info("machine_config_set", "id", id, "vcpu_count", m.vcpuCount(), "mem_size_mib", m.memSizeMib());
    }

    private void putDrive(String pathId, Drive d) {
        Fields.requireId("drive_id", pathId);
        if (d.driveId() == null) {
            throw Fields.missing("drive_id");
        }
        if (!pathId.equals(d.driveId())) {
            throw ApiException.badField("drive_id", "drive_id '" + d.driveId() + "' in the body does not match '" + pathId
                    + "' in the path");
        }
        if (d.isRootDevice() == null) {
            throw Fields.missing("is_root_device");
        }
        if (d.socket() != null) {
            throw ApiException.badField("socket", "field 'socket': vhost-user drives are not supported");
        }
        if (d.pathOnHost() == null || d.pathOnHost().isBlank()) {
            throw Fields.missing("path_on_host");
        }
        HostPaths.checkBackingFile("path_on_host", d.pathOnHost(), d.readOnly());
        Fields.checkOneOf("cache_type", d.cacheType(), "Unsafe", "Writeback");
        if ("Unsafe".equals(d.cacheType())) {
            // Unsafe means: offer no FLUSH and never fsync, so a guest is told writes are durable
            // when they are not. jkvm does not do that; it honours the guest's flushes (Writeback).
            throw ApiException.badField("cache_type", "cache_type 'Unsafe': not supported (jkvm offers FLUSH and honours it:"
                    + " use Writeback or leave it out)");
        }
        Fields.checkOneOf("io_engine", d.ioEngine(), "Sync", "Async");
        if ("Async".equals(d.ioEngine())) {
            throw ApiException.badField("io_engine", "io_engine 'Async': not supported yet (jkvm's block engine is"
                    + " synchronous; use Sync or leave it out)");
        }
        Fields.checkOneOf("format", d.format(), "raw", "qcow2"); // jkvm extension
        Partuuid.check(d);
        Fields.checkRateLimiter("rate_limiter", d.rateLimiter());
        if (d.root()) {
            for (Drive other : drives.values()) {
                if (other.root() && !other.driveId().equals(pathId)) {
                    throw ApiException.badField("is_root_device", "drive '" + other.driveId()
                            + "' is already the root device (is_root_device)");
                }
            }
        }
        drives.put(pathId, d);
        log.info("drive_set", "id", id, "drive_id", pathId, "path_on_host", d.pathOnHost(), "read_only", d.readOnly());
    }

    /** The drive a PATCH names, after checking the path and body agree; refused when there is none. */
    private Drive existingDrive(String pathId, DriveUpdate u) {
        Fields.requireId("drive_id", pathId);
        if (u.driveId() == null || !u.driveId().equals(pathId)) {
            throw ApiException.badField("drive_id", "drive_id in the body must be given and match '" + pathId
                    + "' in the path");
        }
        Drive d = drives.get(pathId);
        if (d == null) {
            throw ApiException.badField("drive_id", "no drive '" + pathId + "' (PUT /drives/" + pathId + " first)");
        }
        return d;
    }

    /**
     * {@code PATCH /drives/{id}}, checked whole before anything changes: the drive exists, its new
     * image (if any) is usable with the drive's writability, its rate limiter (if any) is valid.
     * Returns the drive as it would be after the update ({@link #recordDriveUpdate} records it).
     */
    synchronized Drive checkedDriveUpdate(String pathId, DriveUpdate u) {
        Drive d = existingDrive(pathId, u);
        if (u.pathOnHost() != null) {
            HostPaths.checkBackingFile("path_on_host", u.pathOnHost(), d.readOnly());
        }
        Fields.checkRateLimiter("rate_limiter", u.rateLimiter());
        return new Drive(d.driveId(), u.pathOnHost() != null ? u.pathOnHost() : d.pathOnHost(), d.isRootDevice(),
                d.isReadOnly(), d.partuuid(), d.cacheType(), d.ioEngine(), RateLimiter.patched(d.rateLimiter(),
                u.rateLimiter()), d.socket(), d.format());
    }

    /** Records {@code updated} ({@link #checkedDriveUpdate}'s result, which the running device has taken). */
    synchronized void recordDriveUpdate(Drive updated) {
        drives.put(updated.driveId(), updated);
    }

    private void putNetworkInterface(String pathId, NetworkInterface n) {
        Fields.requireId("iface_id", pathId);
        if (n.ifaceId() == null) {
            throw Fields.missing("iface_id");
        }
        if (!pathId.equals(n.ifaceId())) {
            throw ApiException.badField("iface_id", "iface_id '" + n.ifaceId() + "' in the body does not match '" + pathId
                    + "' in the path");
        }
        if (n.hostDevName() == null) {
            throw Fields.missing("host_dev_name");
        }
        if (!TAP_NAME.matcher(n.hostDevName()).matches()) {
            throw ApiException.badField("host_dev_name", "host_dev_name '" + n.hostDevName()
                    + "': not a network device name (1 to 15 of letters, digits, _ . : -)");
        }
        if (n.guestMac() != null && !MAC.matcher(n.guestMac()).matches()) {
            throw ApiException.badField("guest_mac", "guest_mac '" + n.guestMac()
                    + "': not a MAC address (like 06:00:ac:10:00:02)");
        }
        Fields.checkRateLimiter("rx_rate_limiter", n.rxRateLimiter());
        Fields.checkRateLimiter("tx_rate_limiter", n.txRateLimiter());
        for (NetworkInterface other : nics.values()) {
            if (!other.ifaceId().equals(pathId)) {
                if (other.hostDevName().equals(n.hostDevName())) {
                    throw ApiException.badField("host_dev_name", "host_dev_name '" + n.hostDevName()
                            + "' is already used by interface '" + other.ifaceId() + "'");
                }
                if (n.guestMac() != null && n.guestMac().equalsIgnoreCase(other.guestMac())) {
                    throw ApiException.badField("guest_mac", "guest_mac '" + n.guestMac() + "' is already used by interface '"
                            + other.ifaceId() + "'");
                }
            }
        }
        nics.put(pathId, n);
        log.info("network_interface_set", "id", id, "iface_id", pathId, "host_dev_name", n.hostDevName());
    }

    /**
     * {@code PATCH /network-interfaces/{id}}: new rate limiters for a configured interface, bucket
     * by bucket as Firecracker ({@link RateLimiter#patched}); returns the interface as it now is.
     */
    synchronized NetworkInterface updateNetworkInterface(String pathId, NetworkInterfaceUpdate u) {
        Fields.requireId("iface_id", pathId);
        if (u.ifaceId() == null || !u.ifaceId().equals(pathId)) {
            throw ApiException.badField("iface_id", "iface_id in the body must be given and match '" + pathId
                    + "' in the path");
        }
        NetworkInterface n = nics.get(pathId);
        if (n == null) {
            throw ApiException.badField("iface_id", "no network interface '" + pathId + "'");
        }
        Fields.checkRateLimiter("rx_rate_limiter", u.rxRateLimiter());
        Fields.checkRateLimiter("tx_rate_limiter", u.txRateLimiter());
        NetworkInterface updated = new NetworkInterface(n.ifaceId(), n.hostDevName(), n.guestMac(),
                RateLimiter.patched(n.rxRateLimiter(), u.rxRateLimiter()),
                RateLimiter.patched(n.txRateLimiter(), u.txRateLimiter()));
        nics.put(pathId, updated);
        return updated;
    }

    private void putLogger(LoggerConfig l) {
        EventLog.Level level = EventLog.Level.INFO;
        if (l.level() != null) {
            try {
                level = EventLog.Level.parseOrOff(l.level());
            } catch (IllegalArgumentException e) {
                throw ApiException.badField("level", "level '" + l.level()
                        + "': not one of Error, Warning, Info, Debug, Trace, Off");
            }
        }
        if (l.logPath() != null) {
            Path p = HostPaths.writable("log_path", l.logPath());
            try {
                log.redirect(p, level);
            } catch (IOException e) {
                throw ApiException.badField("log_path", "log_path " + l.logPath() + ": cannot open: " + e.getMessage());
            }
        }
        logger = l;
        log.info("logger_set", "id", id, "log_path", l.logPath(), "level", l.level());
    }

    private void putMetrics(MetricsConfig m) {
        if (m.metricsPath() == null || m.metricsPath().isBlank()) {
            throw Fields.missing("metrics_path");
        }
        if (metrics != null) {
            throw ApiException.badField("metrics_path", "metrics are already configured (metrics_path "
                    + metrics.metricsPath() + ")");
        }
        m.checkProperties();
        Path path = HostPaths.writable("metrics_path", m.metricsPath());
        metricsSink = MetricsSink.open(path);
        metricsPath = path;
        metrics = m;
        log.info("metrics_set", "id", id, "metrics_path", m.metricsPath());
    }

    private void putEntropy(EntropyDevice e) {
        Fields.checkRateLimiter("rate_limiter", e.rateLimiter());
        if (e.rateLimiter() != null && e.rateLimiter().limits()) {
            throw ApiException.badField("rate_limiter", "rate_limiter: not enforced on the entropy device yet (leave it"
                    + " out, or give buckets of size 0)");
        }
        entropy = e;
        log.info("entropy_set", "id", id);
    }

    private void putSerial(SerialConfig c) {
        if (c.rateLimiter() != null) {
            c.rateLimiter().validate("rate_limiter");
            if (c.rateLimiter().limits()) {
                throw ApiException.badField("rate_limiter", "rate_limiter: serial output is not rate limited yet (leave"
                        + " it out, or give a bucket of size 0)");
            }
        }
        serialOutPath = c.serialOutPath() == null ? null : HostPaths.writable("serial_out_path", c.serialOutPath());
        serial = c;
        log.info("serial_set", "id", id, "serial_out_path", c.serialOutPath());
    }

    /**
     * {@code PUT /vsock}: guest_cid 3..2^32-1 (Firecracker's minimum is 3; 0-2 are reserved), a
     * uds_path in an existing directory (relative: against the VMM's working directory). The socket
     * itself is created at InstanceStart, where a file already at uds_path makes the start fail.
     * A second PUT replaces the first, as in Firecracker.
     */
    /**
     * {@code PUT /cpu-config}: a custom template, checked against this host's KVM (its CPUID leaves,
     * MSRs, capabilities) now rather than at InstanceStart. It replaces a static cpu_template, as in
     * Firecracker, where the template configured last is the one applied.
     */
    private void putCpuConfig(CpuConfig c) {
        io.jkvm.arch.x86.cpuid.CpuTemplate t = CpuConfigs.toTemplate(c);
        boot.hostCpu().check(t);
        customCpu = c;
        customTemplate = t;
        machine = machine.withoutCpuTemplate();
        log.info("cpu_config_set", "id", id, "cpuid_modifiers", t.cpuid().size(), "msr_modifiers", t.msrs().size());
    }

    /** The CPU template InstanceStart applies: the custom one, a static machine-config cpu_template, or none. */
    synchronized io.jkvm.arch.x86.cpuid.CpuTemplate cpuTemplate() {
        if (customTemplate != null) {
            return customTemplate;
        }
        io.jkvm.arch.x86.cpuid.StaticCpuTemplate s = io.jkvm.arch.x86.cpuid.StaticCpuTemplate.byName(machine.cpuTemplate());
        return s == null ? io.jkvm.arch.x86.cpuid.CpuTemplate.NONE : s.template();
    }

    /** The custom template as {@code PUT /cpu-config} gave it, or null. */
    synchronized CpuConfig cpuConfig() {
        return customCpu;
    }

    private void putVsock(VsockDevice v) {
        if (v.guestCid() == null) {
            throw Fields.missing("guest_cid");
        }
        if (v.guestCid() < VsockConfig.MIN_CID || v.guestCid() > VsockConfig.MAX_CID) {
            throw ApiException.badField("guest_cid", "guest_cid " + v.guestCid() + ": must be " + VsockConfig.MIN_CID
                    + ".." + VsockConfig.MAX_CID + " (0-2 are reserved)");
        }
        if (v.udsPath() == null || v.udsPath().isBlank()) {
            throw Fields.missing("uds_path");
        }
        Path p = HostPaths.writable("uds_path", v.udsPath());
        try {
            vsockConfig = new VsockConfig(v.guestCid(), p);
        } catch (ConfigException e) {
            throw ApiException.badField("uds_path", e.getMessage());
        }
        vsock = v;
        log.info("vsock_set", "id", id, "guest_cid", v.guestCid(), "uds_path", v.udsPath());
    }

    /**
     * {@code PUT /balloon}, checked as Firecracker's BalloonDeviceConfig: amount_mib and
     * deflate_on_oom required, amount_mib at most the guest's memory, stats_polling_interval_s a
     * u16 (0, the default: no statistics). Free page hinting and reporting are not offered. A
     * second PUT replaces the first.
     */
    private void putBalloon(BalloonDevice b) {
        if (b.amountMib() == null) {
            throw Fields.missing("amount_mib");
        }
        if (b.deflateOnOom() == null) {
            throw Fields.missing("deflate_on_oom");
        }
        long mem = machine.memSizeMib();
        if (b.amountMib() < 0 || b.amountMib() > mem) {
            throw ApiException.badField("amount_mib", "amount_mib " + b.amountMib()
                    + ": Amount of pages requested is too large. (the balloon's target is at most the guest's "
                    + mem + " MiB)");
        }
        long interval = b.statsPollingIntervalS() == null ? 0 : b.statsPollingIntervalS();
        if (interval < 0 || interval > BalloonConfig.MAX_STATS_INTERVAL_S) {
            throw ApiException.badField("stats_polling_interval_s", "stats_polling_interval_s " + interval
                    + ": not 0.." + BalloonConfig.MAX_STATS_INTERVAL_S);
        }
        if (Boolean.TRUE.equals(b.freePageHinting())) {
            throw ApiException.badField("free_page_hinting", "free_page_hinting: not supported (leave it out or false)");
        }
        if (Boolean.TRUE.equals(b.freePageReporting())) {
            throw ApiException.badField("free_page_reporting", "free_page_reporting: not supported (leave it out or false)");
        }
        balloon = new BalloonConfig(Math.toIntExact(b.amountMib()), b.deflateOnOom(), (int) interval);
        log.info("balloon_set", "id", id, "amount_mib", b.amountMib(), "deflate_on_oom", b.deflateOnOom(),
                "stats_polling_interval_s", interval);
    }

    /** The balloon as configured (and updated after boot), or null. */
    synchronized BalloonConfig balloon() {
        return balloon;
    }

    /** Records a balloon update the running device has taken. */
    synchronized void recordBalloon(BalloonConfig b) {
        balloon = b;
    }

    // ---- reads ----

    public synchronized MachineConfiguration machine() {
        return machine;
    }

    synchronized BootSource bootSource() {
        return bootSource;
    }

    synchronized boolean machineConfigured() {
        return machineConfigured;
    }

    /** Where FlushMetrics appends, or null before {@code PUT /metrics}. */
    synchronized Path metricsPath() {
        return metricsPath;
    }

    /** The open metrics destination, or null before {@code PUT /metrics}. */
    synchronized MetricsSink metricsSink() {
        return metricsSink;
    }

    /** The metrics configuration, or null before {@code PUT /metrics}. */
    synchronized MetricsConfig metrics() {
        return metrics;
    }

    synchronized List<Drive> drives() {
        return List.copyOf(drives.values());
    }

    synchronized List<NetworkInterface> networkInterfaces() {
        return List.copyOf(nics.values());
    }

    /**
     * Whether boot-specific resources are configured (a snapshot load is then refused). A vsock
     * device counts, as in Firecracker (whose set_vsock_device marks the boot path): the restored
     * VM's vsock comes from the snapshot, moved with vsock_override. So does a balloon
     * (set_balloon_device marks it too): the restored VM's balloon is the snapshot's.
     */
    synchronized boolean hasBootResources() {
        return bootSource != null || !drives.isEmpty() || !nics.isEmpty() || vsock != null || balloon != null;
    }

    /** {@code GET /vm/config}: every section, in the configuration file's shape. */
    public synchronized FullVmConfiguration full() {
        return new FullVmConfiguration(bootSource, machine, List.copyOf(drives.values()), List.copyOf(nics.values()),
                logger, metrics, entropy, serial, vsock, balloon == null ? null : BalloonDevice.of(balloon), mmdsConfig);
    }

    BootValidation validation() {
        return boot;
    }

    // ---- the whole ----

    /** Checks the whole configuration (files may have changed since each PUT) and makes what InstanceStart boots. */
    synchronized GuestSpec toGuestSpec() {
        if (bootSource == null) {
            throw ApiException.notAllowed("Cannot start microvm without kernel configuration (PUT /boot-source first)");
        }
        VmConfig config = boot.validate(bootSource, machine);
        for (Drive d : drives.values()) {
            HostPaths.checkBackingFile("drive " + d.driveId() + " path_on_host", d.pathOnHost(), d.readOnly());
        }
        config = GuestDevices.withDevices(config, new ArrayList<>(drives.values()), new ArrayList<>(nics.values()),
                entropy != null);
        config = config.withDevices(config.devices().withVsock(vsockConfig).withBalloon(balloon).withDisplay(display))
                .withVirtioTransport(transport)
                .withCpuTemplate(cpuTemplate());
        requireFits(config);
        return new GuestSpec(config, new ArrayList<>(drives.values()), new ArrayList<>(nics.values()),
                Boolean.TRUE.equals(machine.trackDirtyPages()), serialOutPath,
                io.jkvm.memory.RamBacking.fromApi(machine.hugePages()), mmdsBinding());
    }

    /**
     * virtio-mmio has one interrupt line per device and a fixed number of free ones
     * ({@link io.jkvm.config.VirtioTransport} / VirtioMmioSlots): too many devices is refused at
     * InstanceStart, naming what counts, rather than booting a guest with devices missing.
     */
    static void requireFits(VmConfig config) {
        if (config.virtioTransport() != io.jkvm.config.VirtioTransport.MMIO) {
            return;
        }
        try {
            io.jkvm.arch.x86.VirtioMmioSlots.requireFits(config.devices().count());
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest("drives, network-interfaces, entropy, vsock and balloon: " + e.getMessage()
                    + " (bin/firecracker: --enable-pci)");
        }
    }

    /** After a snapshot load without an MMDS binding. */
    synchronized void restoredFrom(VmConfig c, boolean trackDirtyPages) {
        restoredFrom(c, trackDirtyPages, null);
    }

    /** After a snapshot load: the machine, boot source and MMDS configuration (null: none) the restored VM has. */
    synchronized void restoredFrom(VmConfig c, boolean trackDirtyPages, io.jkvm.mmds.MmdsState restoredMmds) {
        if (restoredMmds != null) {
            mmdsAddress = restoredMmds.address();
            mmdsConfig = new MmdsConfig(restoredMmds.version().name(), restoredMmds.interfaces(),
                    io.jkvm.mmds.LinkLocal.format(restoredMmds.address()), restoredMmds.imdsCompat());
        }
        machine = MachineConfiguration.DEFAULT.patchedWith(new MachineConfiguration(c.cpus(),
                (int) (c.memoryBytes() >> 20), null, trackDirtyPages, null, null));
        bootSource = new BootSource(c.kernel().toString(), c.initrd().map(Path::toString).orElse(null), c.cmdline());
        // GET /vm/config shows the restored vsock device where it listens now (after any vsock_override).
        vsockConfig = c.devices().vsock();
        vsock = vsockConfig == null ? null : new VsockDevice(vsockConfig.guestCid(), vsockConfig.udsPath().toString(), null);
        balloon = c.devices().balloon();
    }
}
