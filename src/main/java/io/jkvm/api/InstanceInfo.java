package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/** Firecracker's {@code GET /} answer; {@code state} is "Not started", "Running" or "Paused". */
public record InstanceInfo(
        @JsonProperty("id") String id,
        @JsonProperty("state") String state,
        @JsonProperty("vmm_version") String vmmVersion,
        @JsonProperty("app_name") String appName) {
}
