package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Firecracker's {@code PUT /serial} body (SerialDevice): where the guest's serial console output
 * goes ({@code serial_out_path}, a file or a named pipe; without it, the VMM's stdout) and an
 * optional token bucket for that output.
 */
public record SerialConfig(
        @JsonProperty("serial_out_path") String serialOutPath,
        @JsonProperty("rate_limiter") TokenBucket rateLimiter) {
}
