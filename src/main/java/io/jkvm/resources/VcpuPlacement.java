package io.jkvm.resources;

import java.util.Map;
import java.util.TreeMap;

/**
 * Where and how a VM's threads run, for low latency (libvirt's vcpupin / emulatorpin / vcpusched,
 * QEMU's -overcommit mem-lock, KVM's halt polling):
 *
 * @param vcpuCpus host CPUs per vCPU index; a vCPU not listed takes {@code allVcpus}, or stays unpinned
 * @param allVcpus host CPUs for every vCPU not listed in {@code vcpuCpus} (null: unpinned)
 * @param vmmCpus host CPUs for the VMM's other threads: device I/O, API, JVM (null: unpinned)
 * @param sched scheduling class and real-time priority of the vCPU threads (null: inherited)
 * @param mlock whether guest RAM is locked in host memory (all pages resident, never swapped)
 * @param haltPollNs KVM's halt-polling window per VM (KVM_CAP_HALT_POLL; null: the host's default)
 */
public record VcpuPlacement(Map<Integer, CpuList> vcpuCpus, CpuList allVcpus, CpuList vmmCpus, RtPolicy sched,
                            boolean mlock, Long haltPollNs) {
    /** KVM caps halt polling per VM at this in practice; longer only burns host CPU. */
    public static final long MAX_HALT_POLL_NS = 10_000_000_000L;
    public static final VcpuPlacement NONE = new VcpuPlacement(Map.of(), null, null, null, false, null);

    public VcpuPlacement {
        vcpuCpus = Map.copyOf(vcpuCpus);
        if (haltPollNs != null && (haltPollNs < 0 || haltPollNs > MAX_HALT_POLL_NS)) {
            throw new IllegalArgumentException("halt-poll-ns " + haltPollNs + ": must be 0 to " + MAX_HALT_POLL_NS);
        }
        for (int v : vcpuCpus.keySet()) {
            if (v < 0) {
                throw new IllegalArgumentException("vcpu-pin: vCPU " + v + " does not exist");
            }
        }
    }

    /** The host CPUs of vCPU {@code index}, or null when it is not pinned. */
    public CpuList cpusOf(int index) {
        CpuList c = vcpuCpus.get(index);
        return c != null ? c : allVcpus;
    }

    /** Refuses pins of vCPUs a machine of {@code vcpus} does not have, naming them. */
    public void requireVcpus(int vcpus) {
        for (int v : new TreeMap<>(vcpuCpus).keySet()) {
            if (v >= vcpus) {
                throw new IllegalArgumentException("vcpu-pin " + v + "=" + vcpuCpus.get(v) + ": the VM has "
                        + vcpus + " vCPU" + (vcpus == 1 ? "" : "s") + " (0 to " + (vcpus - 1) + ")");
            }
        }
    }

    public boolean isNone() {
        return equals(NONE);
    }
}
