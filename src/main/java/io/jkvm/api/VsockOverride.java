package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Firecracker's {@code vsock_override} in {@code PUT /snapshot/load}: the restored vsock device
 * listens on this {@code uds_path} instead of the one in the snapshot (the original VMM may still
 * hold that one; clones each need their own). The guest CID stays the snapshot's.
 */
public record VsockOverride(@JsonProperty("uds_path") String udsPath) {
}
