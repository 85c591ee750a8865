package io.jkvm.cli;

import io.jkvm.kvm.Scheduling;
import io.jkvm.resources.CpuList;
import io.jkvm.resources.RtPolicy;
import io.jkvm.resources.VcpuPlacement;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The low-latency options of {@code jkvm run} (libvirt's vcpupin, emulatorpin and vcpusched;
 * QEMU's mem-lock): which host CPUs each vCPU and the VMM's other threads run on, the vCPUs'
 * scheduling class, locked guest RAM and KVM halt polling.
 */
final class PlacementOptions {
    @Option(names = "--vcpu-pin", paramLabel = "VCPU=CPUS",
            description = "Run vCPU VCPU (or 'all') only on host CPUS, a list like 2-3,6; repeatable.")
    List<String> vcpuPins = new ArrayList<>();

    @Option(names = "--vmm-cpus", paramLabel = "CPUS",
            description = "Run the VMM's other threads (device I/O, API, JVM) only on host CPUS.")
    String vmmCpus;

    @Option(names = "--vcpu-sched", paramLabel = "fifo:PRIO|rr:PRIO|other",
            description = "Scheduling class of the vCPU threads, as chrt names them (real time needs CAP_SYS_NICE).")
    String vcpuSched;

    @Option(names = "--mlock", description = "Lock guest RAM in host memory (all resident, never swapped).")
    boolean mlock;

    @Option(names = "--halt-poll-ns", paramLabel = "NS",
            description = "KVM halt polling for this VM: how long a halted vCPU spins before sleeping (0 turns it off).")
    Long haltPollNs;

    /** The placement these options ask for, checked against this process's CPUs. @throws UserError naming the flag */
    VcpuPlacement placement() {
        return parse(Scheduling.affinity(0));
    }

    /**
     * The placement these options ask for, checked for syntax only: for a VM another host's
     * daemon will run, whose CPUs are not this process's.
     *
     * @throws UserError naming the flag
     */
    VcpuPlacement parsedOnly() {
        return parse(null);
    }

    /** @param allowed the CPUs every pin must lie within, or null not to check */
    private VcpuPlacement parse(BitSet allowed) {
        try {
            Map<Integer, CpuList> pins = new HashMap<>();
            CpuList all = null;
            for (String pin : vcpuPins) {
                int eq = pin.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException("--vcpu-pin " + pin + ": expected VCPU=CPUS, e.g. 0=2 or all=2-3");
                }
                String vcpu = pin.substring(0, eq).strip();
                CpuList cpus = CpuList.parse("--vcpu-pin " + vcpu, pin.substring(eq + 1));
                if (allowed != null) {
                    cpus.requireWithin("--vcpu-pin " + vcpu + "=", allowed);
                }
                if (vcpu.equals("all")) {
                    all = cpus;
                } else if (!vcpu.isEmpty() && vcpu.length() <= 4 && vcpu.chars().allMatch(Character::isDigit)) {
                    if (pins.put(Integer.parseInt(vcpu), cpus) != null) {
                        throw new IllegalArgumentException("--vcpu-pin " + vcpu + ": given twice");
                    }
                } else {
                    throw new IllegalArgumentException("--vcpu-pin " + pin + ": '" + vcpu + "' is not a vCPU number or 'all'");
                }
            }
            CpuList vmm = vmmCpus == null ? null : CpuList.parse("--vmm-cpus", vmmCpus);
            if (vmm != null && allowed != null) {
                vmm.requireWithin("--vmm-cpus", allowed);
            }
            RtPolicy sched = vcpuSched == null ? null : RtPolicy.parse("--vcpu-sched", vcpuSched);
            if (haltPollNs != null && (haltPollNs < 0 || haltPollNs > VcpuPlacement.MAX_HALT_POLL_NS)) {
                throw new IllegalArgumentException("--halt-poll-ns " + haltPollNs + ": must be 0 to " + VcpuPlacement.MAX_HALT_POLL_NS);
            }
            return new VcpuPlacement(pins, all, vmm, sched, mlock, haltPollNs);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
    }

    /** The vCPU pins refer to vCPUs a VM of {@code cpus} has. @throws UserError naming the flag */
    static void requireVcpus(VcpuPlacement p, int cpus) {
        try {
            p.requireVcpus(cpus);
        } catch (IllegalArgumentException e) {
            throw new UserError("--" + e.getMessage());
        }
    }
}
