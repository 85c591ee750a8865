package io.jkvm.vmm;

import io.jkvm.device.virtio.IoStats;
import io.jkvm.resources.Throttle;

import java.util.Map;

/**
 * What a running VM has done so far, for the metrics endpoints: KVM exits by reason name, port
 * accesses per device, the vCPU count and how long the VM has run.
 *
 * @param vcpus vCPUs of the machine
 * @param uptimeMillis since the first boot (0 before the VM started)
 * @param exits KVM exits by reason name (IO, MMIO, HLT, ...), over every boot of this VM
 * @param devices port I/O per device name, over every boot of this VM
 * @param boots how many times the machine was (re)started
 * @param rateLimiters how often and how long each rate-limited device queue waited for tokens, by
 *     virtio device id ("drive/ID", "net/MAC/rx", ...), over every boot of this VM
 * @param io what each virtio disk ("drive/ID", or "diskN" without an id) and NIC ("tap/NAME")
 *     moved, over every boot of this VM
 * @param ioOutExits IO exits that were port writes (the other IO exits were reads)
 * @param mmioWriteExits MMIO exits that were writes (the other MMIO exits were reads)
 */
public record VmMetrics(int vcpus, long uptimeMillis, Map<String, Long> exits,
                        Map<String, DeviceCounters.Snapshot> devices, int boots,
                        Map<String, Throttle.Stats> rateLimiters, Map<String, IoStats.Snapshot> io,
                        long ioOutExits, long mmioWriteExits) {
    public VmMetrics {
        exits = Map.copyOf(exits);
        devices = Map.copyOf(devices);
        rateLimiters = Map.copyOf(rateLimiters);
        io = Map.copyOf(io);
    }

    /** Metrics of a VM without rate limiters. */
    public VmMetrics(int vcpus, long uptimeMillis, Map<String, Long> exits, Map<String, DeviceCounters.Snapshot> devices,
            int boots) {
        this(vcpus, uptimeMillis, exits, devices, boots, Map.of(), Map.of(), 0, 0);
    }
}
