package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

import java.util.List;

/**
 * Firecracker's {@code GET /vm/config} answer, which is also the document {@code --config-file}
 * takes: the same section names, so a dumped configuration boots again unchanged.
 */
public record FullVmConfiguration(
        @JsonProperty("boot-source") BootSource bootSource,
        @JsonProperty("machine-config") MachineConfiguration machineConfig,
        @JsonProperty("drives") List<Drive> drives,
        @JsonProperty("network-interfaces") List<NetworkInterface> networkInterfaces,
        @JsonProperty("logger") LoggerConfig logger,
        @JsonProperty("metrics") MetricsConfig metrics,
        @JsonProperty("entropy") EntropyDevice entropy,
        @JsonProperty("serial") SerialConfig serial,
        @JsonProperty("vsock") VsockDevice vsock,
        @JsonProperty("balloon") BalloonDevice balloon,
        @JsonProperty("mmds-config") MmdsConfig mmdsConfig,
        @JsonProperty("cpu-config") com.fasterxml.jackson.databind.JsonNode cpuConfig) {
    /*
     * cpu-config is read from a configuration file only: as a custom template inline or as the
     * path of a JSON file holding one (Firecracker's CustomCpuTemplateOrPath). Firecracker's
     * GET /vm/config never fills it in (its cpu-config is always null there), and jkvm's leaves it
     * out the same way: the constructors below have none.
     */

    /** Without a balloon or an mmds-config section. */
    public FullVmConfiguration(BootSource bootSource, MachineConfiguration machineConfig, List<Drive> drives,
            List<NetworkInterface> networkInterfaces, LoggerConfig logger, MetricsConfig metrics, EntropyDevice entropy,
            SerialConfig serial, VsockDevice vsock) {
        this(bootSource, machineConfig, drives, networkInterfaces, logger, metrics, entropy, serial, vsock, null, null, null);
    }

    /** Without a balloon section. */
    public FullVmConfiguration(BootSource bootSource, MachineConfiguration machineConfig, List<Drive> drives,
            List<NetworkInterface> networkInterfaces, LoggerConfig logger, MetricsConfig metrics, EntropyDevice entropy,
            SerialConfig serial, VsockDevice vsock, MmdsConfig mmdsConfig) {
        this(bootSource, machineConfig, drives, networkInterfaces, logger, metrics, entropy, serial, vsock, null, mmdsConfig, null);
    }

    /** Without an mmds-config section. */
    public FullVmConfiguration(BootSource bootSource, MachineConfiguration machineConfig, List<Drive> drives,
            List<NetworkInterface> networkInterfaces, LoggerConfig logger, MetricsConfig metrics, EntropyDevice entropy,
            SerialConfig serial, VsockDevice vsock, BalloonDevice balloon) {
        this(bootSource, machineConfig, drives, networkInterfaces, logger, metrics, entropy, serial, vsock, balloon, null, null);
    }

    /** Without cpu-config (what GET /vm/config shows). */
    public FullVmConfiguration(BootSource bootSource, MachineConfiguration machineConfig, List<Drive> drives,
            List<NetworkInterface> networkInterfaces, LoggerConfig logger, MetricsConfig metrics, EntropyDevice entropy,
            SerialConfig serial, VsockDevice vsock, BalloonDevice balloon, MmdsConfig mmdsConfig) {
        this(bootSource, machineConfig, drives, networkInterfaces, logger, metrics, entropy, serial, vsock, balloon, mmdsConfig, null);
    }

    /** Without a vsock section. */
    public FullVmConfiguration(BootSource bootSource, MachineConfiguration machineConfig, List<Drive> drives,
            List<NetworkInterface> networkInterfaces, LoggerConfig logger, MetricsConfig metrics, EntropyDevice entropy,
            SerialConfig serial) {
        this(bootSource, machineConfig, drives, networkInterfaces, logger, metrics, entropy, serial, null, null, null);
    }
}
