package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/** Firecracker's {@code PUT /actions} body: InstanceStart, SendCtrlAltDel or FlushMetrics. */
public record InstanceActionInfo(@JsonProperty("action_type") String actionType) {
}
