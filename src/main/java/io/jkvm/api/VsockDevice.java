package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Firecracker's {@code PUT /vsock} body (its Vsock definition): the guest's CID (at least 3), the
 * host Unix socket the VMM listens on ({@code uds_path}; guest connections to host port P are
 * forwarded to {@code <uds_path>_P}), and the deprecated {@code vsock_id}, accepted and ignored
 * (one vsock device per VM). Pre-boot only.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record VsockDevice(
        @JsonProperty("guest_cid") Long guestCid,
        @JsonProperty("uds_path") String udsPath,
        @JsonProperty("vsock_id") String vsockId) {
}
