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
        @JsonProperty("cpu-config") com.fasterxml.jackson.databind.JsonNode cpuConfig) {
    /**
     * Without {@code cpu-config}. That section is read from a configuration file only: as a custom
     * template inline or as the path of a JSON file holding one (Firecracker's
     * CustomCpuTemplateOrPath). Firecracker's {@code GET /vm/config} never fills it in (its
     * cpu-config is always null there), and jkvm's leaves it out the same way.
     */
    public FullVmConfiguration(BootSource bootSource, MachineConfiguration machineConfig, List<Drive> drives,
            List<NetworkInterface> networkInterfaces, LoggerConfig logger, MetricsConfig metrics, EntropyDevice entropy,
            SerialConfig serial, VsockDevice vsock) {
        this(bootSource, machineConfig, drives, networkInterfaces, logger, metrics, entropy, serial, vsock, null);
    }

    /** Without a vsock section. */
    public FullVmConfiguration(BootSource bootSource, MachineConfiguration machineConfig, List<Drive> drives,
            List<NetworkInterface> networkInterfaces, LoggerConfig logger, MetricsConfig metrics, EntropyDevice entropy,
            SerialConfig serial) {
        this(bootSource, machineConfig, drives, networkInterfaces, logger, metrics, entropy, serial, null);
    }
}
