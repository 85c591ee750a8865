package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/** Firecracker's {@code PATCH /drives/{drive_id}} body (a new backing file or rate limiter). */
public record DriveUpdate(
        @JsonProperty("drive_id") String driveId,
        @JsonProperty("path_on_host") String pathOnHost,
        @JsonProperty("rate_limiter") RateLimiter rateLimiter) {
}
