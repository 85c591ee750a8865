package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

import java.util.List;

/**
 * Firecracker's {@code PUT /mmds/config} body (and the {@code mmds-config} section of a
 * configuration file): which network interfaces answer guest requests to the metadata service,
 * at which link-local address, with which {@code version} (V1, the default, or V2) and whether
 * answers are always IMDS text ({@code imds_compat}).
 */
public record MmdsConfig(
        @JsonProperty("version") String version,
        @JsonProperty("network_interfaces") List<String> networkInterfaces,
        @JsonProperty("ipv4_address") String ipv4Address,
        @JsonProperty("imds_compat") Boolean imdsCompat) {
}
