package io.jkvm.resources;

import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A daemon-managed VM's host tuning, kept with its definition: the same settings as
 * {@code jkvm run}'s flags ({@code --vcpu-pin}, {@code --vmm-cpus}, {@code --vcpu-sched},
 * {@code --mlock}, {@code --halt-poll-ns}, {@code --ksm}, {@code --cgroup}), which the daemon
 * passes to the VM's VMM. The VM's cgroups nest beneath the daemon's own: a daemon client cannot
 * name another parent, so no VM escapes the limits its daemon runs under.
 *
 * @param vcpuPin host CPUs by vCPU index, or "all"
 * @param cgroup cgroup settings, {@code FILE=VALUE} each (v1 or v2 file names, as the host has the controller)
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record VmTuning(@JsonProperty("vcpu_pin") Map<String, String> vcpuPin,
                       @JsonProperty("vmm_cpus") String vmmCpus,
                       @JsonProperty("vcpu_sched") String vcpuSched,
                       @JsonProperty("mlock") Boolean mlock,
                       @JsonProperty("halt_poll_ns") Long haltPollNs,
                       @JsonProperty("ksm") Boolean ksm,
                       @JsonProperty("cgroup") List<String> cgroup) {
    public VmTuning {
        vcpuPin = vcpuPin == null || vcpuPin.isEmpty() ? null : new TreeMap<>(vcpuPin);
        cgroup = cgroup == null || cgroup.isEmpty() ? null : List.copyOf(cgroup);
    }

    /** Without cgroup settings. */
    public VmTuning(Map<String, String> vcpuPin, String vmmCpus, String vcpuSched, Boolean mlock, Long haltPollNs, Boolean ksm) {
        this(vcpuPin, vmmCpus, vcpuSched, mlock, haltPollNs, ksm, null);
    }

    /**
     * Checks every field as the VMM will, for a VM of {@code vcpus}.
     *
     * @throws IllegalArgumentException naming the field
     */
    public void validate(int vcpus) {
        if (vcpuPin != null) {
            if (vcpuPin.size() > 1024) {
                throw new IllegalArgumentException("tuning.vcpu_pin: at most 1024 entries");
            }
            vcpuPin.forEach((vcpu, cpus) -> {
                if (!vcpu.equals("all")) {
                    if (vcpu.isEmpty() || vcpu.length() > 4 || !vcpu.chars().allMatch(Character::isDigit)) {
                        throw new IllegalArgumentException("tuning.vcpu_pin: '" + vcpu + "' is not a vCPU number or 'all'");
                    }
                    if (Integer.parseInt(vcpu) >= vcpus) {
                        throw new IllegalArgumentException("tuning.vcpu_pin." + vcpu + ": the VM has " + vcpus + " vCPUs");
                    }
                }
                CpuList.parse("tuning.vcpu_pin." + vcpu, cpus);
            });
        }
        if (vmmCpus != null) {
            CpuList.parse("tuning.vmm_cpus", vmmCpus);
        }
        if (vcpuSched != null) {
            RtPolicy.parse("tuning.vcpu_sched", vcpuSched);
        }
        if (haltPollNs != null && (haltPollNs < 0 || haltPollNs > VcpuPlacement.MAX_HALT_POLL_NS)) {
            throw new IllegalArgumentException("tuning.halt_poll_ns " + haltPollNs + ": must be 0 to " + VcpuPlacement.MAX_HALT_POLL_NS);
        }
        cgroupSettings();
    }

    /**
     * The cgroup files a daemon client may set: limits on its own VM. Weights above the default,
     * exclusive cpusets, the freezer and OOM control would act on the daemon's other VMs or hang
     * the VMM, so they are the host operator's (jkvm run --cgroup), not a client's.
     */
    public static final java.util.Set<String> DAEMON_CGROUP_FILES = java.util.Set.of("memory.limit_in_bytes",
            "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes", "cpu.cfs_quota_us", "cpu.cfs_period_us",
            "cpu.shares", "pids.max", "cpuset.cpus", "cpuset.mems",
            // Block I/O limits on a device ("MAJOR:MINOR VALUE"): the VM's own throughput, not a share.
            "blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device", "blkio.throttle.read_iops_device",
            "blkio.throttle.write_iops_device",
            // Their cgroup-v2 counterparts, for hosts whose controllers are in the unified hierarchy.
            "memory.max", "memory.high", "memory.swap.max", "cpu.max", "cpu.weight", "io.max");

    /** Most cgroup settings one VM may have: more than any controller has files. */
    public static final int MAX_CGROUP_SETTINGS = 32;

    /**
     * The cgroup settings, parsed.
     *
     * @throws IllegalArgumentException naming the field
     */
    public List<CgroupSetting> cgroupSettings() {
        List<CgroupSetting> out = new ArrayList<>();
        if (cgroup == null) {
            return out;
        }
        if (cgroup.size() > MAX_CGROUP_SETTINGS) {
            throw new IllegalArgumentException("tuning.cgroup: at most " + MAX_CGROUP_SETTINGS + " settings");
        }
        java.util.Set<String> files = new java.util.HashSet<>();
        for (String text : cgroup) {
            CgroupSetting s;
            try {
                s = CgroupSetting.parse(text);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("tuning." + e.getMessage(), e);
            }
            if (!files.add(s.file())) {
                throw new IllegalArgumentException("tuning.cgroup " + s.file() + ": given twice");
            }
            if (!DAEMON_CGROUP_FILES.contains(s.file())) {
                throw new IllegalArgumentException("tuning.cgroup " + s.file() + ": a daemon VM may set only its own limits: "
                        + DAEMON_CGROUP_FILES);
            }
            if (s.file().equals("cpu.weight")) {
                requireAtMostDefaultWeight(s, 1, 100);
            }
            if (s.file().equals("cpu.shares")) {
                requireAtMostDefaultWeight(s, 2, 1024);
            }
            out.add(s);
        }
        return out;
    }

    /**
     * A CPU weight ({@code cpu.shares} in v1, {@code cpu.weight} in v2) from {@code min} to the
     * controller's default {@code max}: more would take CPU from the daemon's other VMs.
     */
    private static void requireAtMostDefaultWeight(CgroupSetting s, long min, long max) {
        long weight;
        try {
            weight = Long.parseLong(s.value());
        } catch (NumberFormatException e) {
            weight = -1;
        }
        if (weight < min || weight > max) {
            throw new IllegalArgumentException("tuning.cgroup " + s + ": must be " + min + " to " + max
                    + " (more than the default weight would take CPU from the daemon's other VMs)");
        }
    }

    /** Whether the vCPUs ask for a real-time scheduling class (SCHED_FIFO or SCHED_RR). */
    @JsonIgnore
    public boolean realTime() {
        return vcpuSched != null && RtPolicy.parse("tuning.vcpu_sched", vcpuSched).realTime();
    }

    /** The VMM's command-line flags for these settings. */
    @JsonIgnore
    public List<String> flags() {
        List<String> f = new ArrayList<>();
        if (vcpuPin != null) {
            vcpuPin.forEach((vcpu, cpus) -> f.addAll(List.of("--vcpu-pin", vcpu + "=" + cpus)));
        }
        if (vmmCpus != null) {
            f.addAll(List.of("--vmm-cpus", vmmCpus));
        }
        if (vcpuSched != null) {
            f.addAll(List.of("--vcpu-sched", vcpuSched));
        }
        if (Boolean.TRUE.equals(mlock)) {
            f.add("--mlock");
        }
        if (haltPollNs != null) {
            f.addAll(List.of("--halt-poll-ns", String.valueOf(haltPollNs)));
        }
        if (Boolean.TRUE.equals(ksm)) {
            f.add("--ksm");
        }
        if (cgroup != null) {
            cgroup.forEach(c -> f.addAll(List.of("--cgroup", c)));
        }
        return f;
    }

    /** Whether nothing is set. */
    @JsonIgnore
    public boolean isEmpty() {
        return flags().isEmpty();
    }
}
