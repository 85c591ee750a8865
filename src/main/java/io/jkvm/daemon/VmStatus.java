package io.jkvm.daemon;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * One VM as {@code GET /vms} reports it. {@code state}: "stopped" (defined, not running),
 * "starting", "running", "paused", "stopping", "migrating" (a live migration is under way),
 * "migrated" (it runs at the destination now, or may: its VMM ended after pausing it for the
 * switch-over; it is not started here again). {@code confinement}: how the running VMM is
 * confined, read from /proc (null when it is not running).
 */
public record VmStatus(
        @JsonProperty("name") String name,
        @JsonProperty("state") String state,
        @JsonProperty("pid") Long pid,
        @JsonProperty("vcpu_count") Integer vcpuCount,
        @JsonProperty("mem_size_mib") Integer memSizeMib,
        @JsonProperty("kernel") String kernel,
        @JsonProperty("started_at") String startedAt,
        @JsonProperty("last_exit") String lastExit,
        @JsonProperty("api_socket") String apiSocket,
        @JsonProperty("console_socket") String consoleSocket,
        @JsonProperty("serial_log") String serialLog,
        @JsonProperty("vmm_log") String vmmLog,
        @JsonProperty("confinement") VmConfinement confinement) {
}
