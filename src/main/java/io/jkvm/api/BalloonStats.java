package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import io.jkvm.device.virtio.BalloonStatistics;
import io.jkvm.device.virtio.VirtioBalloon;

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
        @JsonProperty("swap_in") Long swapIn,
        @JsonProperty("swap_out") Long swapOut,
        @JsonProperty("major_faults") Long majorFaults,
        @JsonProperty("minor_faults") Long minorFaults,
        @JsonProperty("free_memory") Long freeMemory,
        @JsonProperty("total_memory") Long totalMemory,
        @JsonProperty("available_memory") Long availableMemory,
        @JsonProperty("disk_caches") Long diskCaches,
        @JsonProperty("hugetlb_allocations") Long hugetlbAllocations,
        @JsonProperty("hugetlb_failures") Long hugetlbFailures,
        @JsonProperty("oom_kill") Long oomKill,
        @JsonProperty("alloc_stall") Long allocStall,
        @JsonProperty("async_scan") Long asyncScan,
        @JsonProperty("direct_scan") Long directScan,
        @JsonProperty("async_reclaim") Long asyncReclaim,
        @JsonProperty("direct_reclaim") Long directReclaim) {

    /** The answer for a device: its config space and the statistics it holds (tag order = field order). */
    static BalloonStats of(VirtioBalloon b) {
        long target = Integer.toUnsignedLong(b.targetPages());
        long actual = Integer.toUnsignedLong(b.actualPages());
        BalloonStatistics s = b.statistics();
        return new BalloonStats(target, actual, target / VirtioBalloon.PAGES_PER_MIB, actual / VirtioBalloon.PAGES_PER_MIB,
                s.value(0), s.value(1), s.value(2), s.value(3), s.value(4), s.value(5), s.value(6), s.value(7),
                s.value(8), s.value(9), s.value(10), s.value(11), s.value(12), s.value(13), s.value(14), s.value(15));
    }
}
