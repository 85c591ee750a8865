package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Firecracker's BalloonStatsUpdate, the {@code PATCH /balloon/statistics} body: a new polling
 * interval (required). Statistics cannot be turned on or off after boot, so 0 is refused, and so
 * is any interval for a balloon made without statistics.
 */
public record BalloonStatsUpdate(@JsonProperty("stats_polling_interval_s") Long statsPollingIntervalS) {
}
