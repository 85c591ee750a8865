package io.jkvm.migration;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Progress or outcome of an outgoing migration, as GET /migrate returns it and {@code jkvm
 * migrate} prints it. Times in milliseconds; {@code downtime_ms} is from pausing the vCPUs here
 * to the destination's RESUMED (0 until then); {@code throttle_percent} is the vCPU throttle
 * auto-converge last applied during pre-copy (lifted at the pause and on failure).
 */
public record MigrationReport(
        @JsonProperty("status") Status status,
        @JsonProperty("destination") String destination,
        @JsonProperty("phase") String phase,
        @JsonProperty("total_ms") long totalMillis,
        @JsonProperty("downtime_ms") long downtimeMillis,
        @JsonProperty("max_downtime_ms") long maxDowntimeMillis,
        @JsonProperty("bytes") long bytes,
        @JsonProperty("rounds") int rounds,
        @JsonProperty("pages_sent") long pagesSent,
        @JsonProperty("dirty_pages") long dirtyPages,
        @JsonProperty("final_pages") long finalPages,
        @JsonProperty("throttle_percent") int throttlePercent,
        @JsonProperty("bandwidth_mib_s") double bandwidthMibPerSecond,
        @JsonProperty("error") String error) {

    public enum Status {
        @JsonProperty("active") ACTIVE,
        @JsonProperty("completed") COMPLETED,
        @JsonProperty("failed") FAILED,
        @JsonProperty("cancelled") CANCELLED;

        public boolean finished() {
            return this != ACTIVE;
        }
    }

    /** One line for a terminal. */
    public String summary() {
        return String.format("migration %s to %s: total %d ms, downtime %d ms (target %d), %d rounds, %.1f MiB sent"
                        + " (%d pages, %d at the pause), %.0f MiB/s, throttle %d%%%s",
                status.name().toLowerCase(java.util.Locale.ROOT), destination, totalMillis, downtimeMillis,
                maxDowntimeMillis, rounds, bytes / 1048576.0, pagesSent, finalPages, bandwidthMibPerSecond,
                throttlePercent, error == null ? "" : ": " + error);
    }
}
