package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * {@code PUT /migrate}: start a live migration of this VM. {@code destination} is
 * {@code tcp:HOST:PORT} of a {@code jkvm run --incoming} there; the TLS files (absolute paths on
 * this host) default to the VMM's own {@code --tls-*} options.
 */
public record MigrateRequest(
        @JsonProperty("destination") String destination,
        @JsonProperty("max_downtime_ms") Long maxDowntimeMs,
        @JsonProperty("tls_cert") String tlsCert,
        @JsonProperty("tls_key") String tlsKey,
        @JsonProperty("tls_ca") String tlsCa) {

    /** Default downtime target, as QEMU's downtime-limit default is 300 ms. */
    public static final long DEFAULT_MAX_DOWNTIME_MS = 300;
}
