package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * {@code PUT /migrate}: start a live migration of this VM. {@code destination} is
 * {@code tcp:HOST:PORT} of a {@code jkvm run --incoming} there; the TLS files (absolute paths on
 * this host) default to the VMM's own {@code --tls-*} options. {@code copy_drives} lists writable
 * drives (by {@code drive_id}) whose contents are copied to the destination's own drives of the
 * same id while the guest runs (storage migration, for disks that are not on shared storage);
 * the others must be reachable by the destination as they are. {@code postcopy} (default false)
 * lets a migration whose pre-copy does not converge switch to post-copy instead of throttling the
 * guest: the VM starts at the destination at once and fetches the pages still dirty from here as
 * it touches them; a connection lost then loses the guest, which is why it is asked for.
 */
public record MigrateRequest(
        @JsonProperty("destination") String destination,
        @JsonProperty("max_downtime_ms") Long maxDowntimeMs,
        @JsonProperty("tls_cert") String tlsCert,
        @JsonProperty("tls_key") String tlsKey,
        @JsonProperty("tls_ca") String tlsCa,
        @JsonProperty("copy_drives") java.util.List<String> copyDrives,
        @JsonProperty("postcopy") Boolean postcopy) {

    public MigrateRequest {
        copyDrives = copyDrives == null ? java.util.List.of() : java.util.Collections.unmodifiableList(new java.util.ArrayList<>(copyDrives));
        postcopy = Boolean.TRUE.equals(postcopy);
    }

    /** Without storage. */
    public MigrateRequest(String destination, Long maxDowntimeMs, String tlsCert, String tlsKey, String tlsCa) {
        this(destination, maxDowntimeMs, tlsCert, tlsKey, tlsCa, null);
    }

    /** Pre-copy only. */
    public MigrateRequest(String destination, Long maxDowntimeMs, String tlsCert, String tlsKey, String tlsCa,
            java.util.List<String> copyDrives) {
        this(destination, maxDowntimeMs, tlsCert, tlsKey, tlsCa, copyDrives, false);
    }

    /** Default downtime target, as QEMU's downtime-limit default is 300 ms. */
    public static final long DEFAULT_MAX_DOWNTIME_MS = 300;
}
