package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Firecracker's {@code PUT /logger} body. jkvm writes its structured (JSON lines) event log to
 * {@code log_path}, filtered by {@code level} (Error, Warning, Info, Debug, Trace, Off).
 */
public record LoggerConfig(
        @JsonProperty("log_path") String logPath,
        @JsonProperty("level") String level,
        @JsonProperty("show_level") Boolean showLevel,
        @JsonProperty("show_log_origin") Boolean showLogOrigin,
        @JsonProperty("module") String module) {
}
