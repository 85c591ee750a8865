package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Firecracker's Balloon definition: the {@code PUT /balloon} body, the {@code GET /balloon}
 * answer and the configuration file's {@code balloon} section. {@code amount_mib} and
 * {@code deflate_on_oom} are required, {@code stats_polling_interval_s} defaults to 0 (no
 * statistics). Free page hinting and reporting (virtio 1.2 §5.5.6.4, §5.5.6.6) are not offered:
 * {@code true} is refused, {@code false} is what jkvm does.
 */
public record BalloonDevice(
        @JsonProperty("amount_mib") Long amountMib,
        @JsonProperty("deflate_on_oom") Boolean deflateOnOom,
        @JsonProperty("stats_polling_interval_s") Long statsPollingIntervalS,
        @JsonProperty("free_page_hinting") Boolean freePageHinting,
        @JsonProperty("free_page_reporting") Boolean freePageReporting) {

    /** The device as configured (what {@code GET /balloon} shows): every field present. */
    static BalloonDevice of(io.jkvm.config.BalloonConfig c) {
        return new BalloonDevice((long) c.amountMib(), c.deflateOnOom(), (long) c.statsIntervalS(), false, false);
    }
}
