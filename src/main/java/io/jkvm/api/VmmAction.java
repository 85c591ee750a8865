package io.jkvm.api;

/**
 * Everything a client can ask of a VMM, as typed records: what {@link ActionParser} makes of an
 * API request, what {@link ConfigFile} makes of a configuration document and what the daemon
 * sends (through {@link ActionRequest}). {@link VmmController} hands each one to the handler for
 * the VM's phase, {@link PreBootHandler} or {@link RuntimeHandler}, whose exhaustive switches
 * over this sealed type decide what is allowed before and after boot (the shape of Firecracker's
 * {@code VmmAction} in {@code rpc_interface.rs}).
 */
public sealed interface VmmAction {

    /** The action's name in fault messages ("InsertDrive: ..."). */
    default String name() {
        return getClass().getSimpleName();
    }

    /** Pre-boot configuration: applied to a {@link VmConfiguration}, refused once the VM has started. */
    sealed interface Configure extends VmmAction {}

    /** Reads: answered in every state, with a JSON body. */
    sealed interface Query extends VmmAction {}

    // ---- configuration (PUT/PATCH of a section) ----

    /** {@code PUT /boot-source}. */
    record ConfigureBootSource(BootSource bootSource) implements Configure {}

    /** {@code PUT /machine-config}: the whole machine ({@code vcpu_count} and {@code mem_size_mib} required). */
    record ConfigureMachine(MachineConfiguration machine) implements Configure {}

    /** {@code PATCH /machine-config}: the fields given replace the current ones. */
    record UpdateMachine(MachineConfiguration patch) implements Configure {}

    /** {@code PUT /drives/{id}}. */
    record InsertDrive(String pathId, Drive drive) implements Configure {}

    /** {@code PUT /network-interfaces/{id}}. */
    record InsertNetworkInterface(String pathId, NetworkInterface nic) implements Configure {}

    /** {@code PUT /logger}. */
    record ConfigureLogger(LoggerConfig logger) implements Configure {}

    /** {@code PUT /metrics}. */
    record ConfigureMetrics(MetricsConfig metrics) implements Configure {}

    /** {@code PUT /entropy}: a virtio-rng device. */
    record ConfigureEntropy(EntropyDevice entropy) implements Configure {}

    /** {@code PUT /serial}: where the serial console's output goes. */
    record ConfigureSerial(SerialConfig serial) implements Configure {}

    /** {@code PUT /vsock}: a virtio-vsock device with Firecracker's Unix-socket host side. */
    record ConfigureVsock(VsockDevice vsock) implements Configure {}

    /** {@code PUT /mmds/config}: the metadata service's interfaces, address and version (pre-boot only). */
    record ConfigureMmds(MmdsConfig mmds) implements Configure {}

    // ---- the metadata store (any state) ----

    /** {@code PUT /mmds}: replaces the metadata document. */
    record PutMmds(com.fasterxml.jackson.databind.JsonNode value) implements VmmAction {}

    /** {@code PATCH /mmds}: JSON merge patch (RFC 7396) of the metadata document. */
    record PatchMmds(com.fasterxml.jackson.databind.JsonNode patch) implements VmmAction {}

    /** {@code PUT /balloon}: a virtio-balloon device. */
    record ConfigureBalloon(BalloonDevice balloon) implements Configure {}

    /** {@code PUT /cpu-config}: a custom CPU template (replaces a static machine-config cpu_template). */
    record ConfigureCpu(CpuConfig cpuConfig) implements Configure {}

    // ---- updates that name an existing device ----

    /** {@code PATCH /drives/{id}}: before boot only (a running guest's disk cannot be swapped yet). */
    record UpdateDrive(String pathId, DriveUpdate update) implements VmmAction {}

    /** {@code PATCH /network-interfaces/{id}}: rate limiters, in every state. */
    record UpdateNetworkInterface(String pathId, NetworkInterfaceUpdate update) implements VmmAction {}

    /** {@code PATCH /balloon}: a new target for the running balloon (after boot only, as Firecracker). */
    record UpdateBalloon(BalloonUpdate update) implements VmmAction {}

    /** {@code PATCH /balloon/statistics}: a new statistics interval (after boot only, as Firecracker). */
    record UpdateBalloonStatistics(BalloonStatsUpdate update) implements VmmAction {}

    /** {@code GET /balloon/statistics}: the running balloon's sizes and statistics (after boot only, as Firecracker). */
    record GetBalloonStats() implements VmmAction {}

    // ---- lifecycle ----

    /** {@code PUT /actions {"action_type": "InstanceStart"}}. */
    record InstanceStart() implements VmmAction {}

    /** {@code PUT /actions {"action_type": "SendCtrlAltDel"}}. */
    record SendCtrlAltDel() implements VmmAction {}

    /** {@code PUT /actions {"action_type": "FlushMetrics"}}. */
    record FlushMetrics() implements VmmAction {}

    /** {@code PATCH /vm {"state": "Paused"}}. */
    record Pause() implements VmmAction {}

    /** {@code PATCH /vm {"state": "Resumed"}}. */
    record Resume() implements VmmAction {}

    /** {@code PUT /snapshot/create}. */
    record CreateSnapshot(SnapshotCreateParams params) implements VmmAction {}

    /** {@code PUT /snapshot/load}. */
    record LoadSnapshot(SnapshotLoadParams params) implements VmmAction {}

    /** {@code PUT /migrate}. */
    record StartMigration(MigrateRequest request) implements VmmAction {}

    /** {@code PUT /migrate/cancel}. */
    record CancelMigration() implements VmmAction {}

    // ---- reads ----

    /** {@code GET /}. */
    record GetInstanceInfo() implements Query {}

    /** {@code GET /version}. */
    record GetVersion() implements Query {}

    /** {@code GET /machine-config}. */
    record GetMachineConfig() implements Query {}

    /** {@code GET /vm/config}. */
    record GetVmConfig() implements Query {}

    /** {@code GET /vm/screenshot} (jkvm extension): the display's picture as PNG. */
    record GetScreenshot() implements Query {}

    /** {@code GET /balloon}. */
    record GetBalloonConfig() implements Query {}

    /** {@code GET /migrate}. */
    record GetMigrationStatus() implements Query {}

    /** {@code GET /mmds}: the metadata document ({@code {}} before any PUT). */
    record GetMmds() implements Query {}

    /** {@code GET /jkvm/vcpus} (jkvm extension). */
    record GetVcpuReport() implements Query {}

    /** {@code GET /jkvm/metrics} (jkvm extension). */
    record GetMetrics() implements Query {}
}
