package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import io.jkvm.device.virtio.BalloonStatistics;
import io.jkvm.device.virtio.VirtioBalloon;

import java.math.BigInteger;

/**
 * Firecracker's BalloonStats, the {@code GET /balloon/statistics} answer: the target and actual
 * sizes from config space (virtio 1.2 §5.5.4), in 4 KiB pages and MiB, then each statistic the
 * driver has reported (§5.5.6.3; tags 0-9, and 10-15 from Linux 6.12), absent until it has.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record BalloonStats(
        @JsonProperty("target_pages") long targetPages,
        @JsonProperty("actual_pages") long actualPages,
        @JsonProperty("target_mib") long targetMib,
        @JsonProperty("actual_mib") long actualMib,
        @JsonProperty("swap_in") BigInteger swapIn,
        @JsonProperty("swap_out") BigInteger swapOut,
        @JsonProperty("major_faults") BigInteger majorFaults,
        @JsonProperty("minor_faults") BigInteger minorFaults,
        @JsonProperty("free_memory") BigInteger freeMemory,
        @JsonProperty("total_memory") BigInteger totalMemory,
        @JsonProperty("available_memory") BigInteger availableMemory,
        @JsonProperty("disk_caches") BigInteger diskCaches,
        @JsonProperty("hugetlb_allocations") BigInteger hugetlbAllocations,
        @JsonProperty("hugetlb_failures") BigInteger hugetlbFailures,
        @JsonProperty("oom_kill") BigInteger oomKill,
        @JsonProperty("alloc_stall") BigInteger allocStall,
        @JsonProperty("async_scan") BigInteger asyncScan,
        @JsonProperty("direct_scan") BigInteger directScan,
        @JsonProperty("async_reclaim") BigInteger asyncReclaim,
        @JsonProperty("direct_reclaim") BigInteger directReclaim) {

    /** The answer for a device: its config space and the statistics it holds (tag order = field order). */
    static BalloonStats of(VirtioBalloon b) {
        long target = Integer.toUnsignedLong(b.targetPages());
        long actual = Integer.toUnsignedLong(b.actualPages());
        BalloonStatistics s = b.statistics();
        return new BalloonStats(target, actual, target / VirtioBalloon.PAGES_PER_MIB, actual / VirtioBalloon.PAGES_PER_MIB,
                u64(s, 0), u64(s, 1), u64(s, 2), u64(s, 3), u64(s, 4), u64(s, 5), u64(s, 6), u64(s, 7),
                u64(s, 8), u64(s, 9), u64(s, 10), u64(s, 11), u64(s, 12), u64(s, 13), u64(s, 14), u64(s, 15));
    }

    /** A statistic is a le64 (§5.5.6.3): shown unsigned, or absent when never reported. */
    private static BigInteger u64(BalloonStatistics s, int tag) {
        Long v = s.value(tag);
        return v == null ? null : new BigInteger(Long.toUnsignedString(v));
    }
}
