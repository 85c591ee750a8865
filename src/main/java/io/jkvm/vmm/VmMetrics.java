package io.jkvm.vmm;

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
 */
public record VmMetrics(int vcpus, long uptimeMillis, Map<String, Long> exits,
                        Map<String, DeviceCounters.Snapshot> devices, int boots) {
    public VmMetrics {
        exits = Map.copyOf(exits);
        devices = Map.copyOf(devices);
    }
}
