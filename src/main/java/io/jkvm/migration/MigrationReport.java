package io.jkvm.migration;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Progress or outcome of an outgoing migration, as GET /migrate returns it and {@code jkvm
 * migrate} prints it. Times in milliseconds; {@code downtime_ms} is from pausing the vCPUs here
 * to the destination's RESUMED (0 until then); {@code throttle_percent} is the vCPU throttle
 * auto-converge last applied during pre-copy (lifted at the pause and on failure). The downtime
 * splits into {@code downtime_pause_ms} (stopping the vCPUs), {@code downtime_send_ms} (device
 * states, last pages, KVM state, until DONE is written) and {@code downtime_destination_ms}
 * (until RESUMED arrives: the destination reading what was still in flight, applying and starting).
 *
 * <p>While active: {@code round_bytes} is the RAM the current round covers (round 0: all of it;
 * later rounds: the pages dirtied during the one before), {@code remaining_bytes} what of it is
 * still to be looked at, and {@code expected_downtime_ms} the pause the last dirty set would take
 * at the measured bandwidth (0 before round 0 ends) — what decides when pre-copy stops.
 *
 * <p>With storage ({@code copy_drives}): {@code disk_bytes} is the disk contents covered so far
 * (the bulk copy and every resent chunk, zero ranges included) and {@code disk_dirty_bytes} what
 * the guest had written again when the last round began (part of the expected downtime).
 *
 * <p>After a switch to post-copy ({@code postcopy} asked for, pre-copy not converging):
 * {@code postcopy_chunks} is how many chunks of 64 KiB were still dirty at the pause and stayed
 * here, {@code postcopy_sent} how many of them the destination has fetched, and
 * {@code postcopy_ms} the time from RESUMED until it had them all (the guest runs there
 * meanwhile, waiting on each chunk it touches first). The migration completes then.
 */
public record MigrationReport(
        @JsonProperty("status") Status status,
        @JsonProperty("destination") String destination,
        @JsonProperty("phase") String phase,
        @JsonProperty("total_ms") long totalMillis,
        @JsonProperty("downtime_ms") long downtimeMillis,
        @JsonProperty("downtime_pause_ms") long pauseMillis,
        @JsonProperty("downtime_send_ms") long finalSendMillis,
        @JsonProperty("downtime_destination_ms") long destinationMillis,
        @JsonProperty("max_downtime_ms") long maxDowntimeMillis,
        @JsonProperty("bytes") long bytes,
        @JsonProperty("rounds") int rounds,
        @JsonProperty("pages_sent") long pagesSent,
        @JsonProperty("dirty_pages") long dirtyPages,
        @JsonProperty("final_pages") long finalPages,
        @JsonProperty("throttle_percent") int throttlePercent,
        @JsonProperty("bandwidth_mib_s") double bandwidthMibPerSecond,
        @JsonProperty("round_bytes") Long roundBytes,
        @JsonProperty("remaining_bytes") Long remainingBytes,
        @JsonProperty("expected_downtime_ms") Long expectedDowntimeMillis,
        @JsonProperty("disk_bytes") Long diskBytes,
        @JsonProperty("disk_dirty_bytes") Long diskDirtyBytes,
        @JsonProperty("postcopy_chunks") Long postcopyChunks,
        @JsonProperty("postcopy_sent") Long postcopySent,
        @JsonProperty("postcopy_ms") Long postcopyMillis,
        @JsonProperty("error") String error) {

    /** The live and disk figures are absent from an older VMM's reports (a daemon outlives its VMMs' version): 0. */
    public MigrationReport {
        roundBytes = roundBytes == null ? 0L : roundBytes;
        remainingBytes = remainingBytes == null ? 0L : remainingBytes;
        expectedDowntimeMillis = expectedDowntimeMillis == null ? 0L : expectedDowntimeMillis;
        diskBytes = diskBytes == null ? 0L : diskBytes;
        diskDirtyBytes = diskDirtyBytes == null ? 0L : diskDirtyBytes;
        postcopyChunks = postcopyChunks == null ? 0L : postcopyChunks;
        postcopySent = postcopySent == null ? 0L : postcopySent;
        postcopyMillis = postcopyMillis == null ? 0L : postcopyMillis;
    }

    /** What a client sees of a migration it just asked for, before its VMM's first report. */
    public static MigrationReport starting(String destination) {
        return new MigrationReport(Status.ACTIVE, destination, "starting", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0L, 0L, 0L,
                0L, 0L, 0L, 0L, 0L, null);
    }

    /** {@code last}'s figures, failed with {@code error}: the VMM ended without a final report. */
    public MigrationReport lost(String error) {
        return new MigrationReport(Status.FAILED, destination, phase, totalMillis, 0, 0, 0, 0, maxDowntimeMillis, bytes, rounds,
                pagesSent, dirtyPages, finalPages, throttlePercent, bandwidthMibPerSecond, 0L, 0L, 0L, diskBytes, 0L,
                postcopyChunks, postcopySent, postcopyMillis, error);
    }

    /**
     * Post-copy broke after the VM started at the destination: the source stopped its VM (phase
     * {@code lost}), which may run at neither end, or only there.
     */
    public boolean brokeInPostcopy() {
        return status == Status.FAILED && "lost".equals(phase);
    }

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
        return String.format("migration %s to %s: total %d ms, downtime %d ms (target %d; pause %d, send %d,"
                        + " destination %d), %d rounds, %.1f MiB sent (%d pages, %d at the pause%s), %.0f MiB/s, throttle %d%%%s",
                status.name().toLowerCase(java.util.Locale.ROOT), destination, totalMillis, downtimeMillis,
                maxDowntimeMillis, pauseMillis, finalSendMillis, destinationMillis, rounds, bytes / 1048576.0, pagesSent, finalPages,
                diskBytes == 0 ? "" : String.format(java.util.Locale.ROOT, "; disks %.1f MiB", diskBytes / 1048576.0),
                bandwidthMibPerSecond, throttlePercent, (postcopyChunks == 0 ? "" : String.format(java.util.Locale.ROOT,
                        ", post-copy %d of %d chunks in %d ms", postcopySent, postcopyChunks, postcopyMillis))
                        + (error == null ? "" : ": " + error));
    }
}
