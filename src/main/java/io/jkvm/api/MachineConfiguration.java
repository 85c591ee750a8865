package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * Firecracker's machine configuration ({@code /machine-config}). PUT needs {@code vcpu_count}
 * and {@code mem_size_mib}; PATCH may give any subset. {@code track_dirty_pages} (default false)
 * turns on KVM dirty logging, which Diff snapshots need. {@code smt} is accepted for
 * compatibility; only its off setting is supported. {@code cpu_template} is one of Firecracker's
 * static templates (C3, T2, T2S, T2CL, T2A) or None; shown only when a static one applies.
 */
public record MachineConfiguration(
        @JsonProperty("vcpu_count") Integer vcpuCount,
        @JsonProperty("mem_size_mib") Integer memSizeMib,
        @JsonProperty("smt") Boolean smt,
        @JsonProperty("track_dirty_pages") Boolean trackDirtyPages,
        @JsonProperty("cpu_template") String cpuTemplate,
        @JsonProperty("huge_pages") String hugePages) {

    /** Firecracker's defaults: 1 vCPU, 128 MiB. */
    public static final MachineConfiguration DEFAULT = new MachineConfiguration(1, 128, false, false, null, "None");

    /** This configuration with no cpu_template (GET /machine-config then leaves the field out, as Firecracker). */
    public MachineConfiguration withoutCpuTemplate() {
        return new MachineConfiguration(vcpuCount, memSizeMib, smt, trackDirtyPages, null, hugePages);
    }

    /** This configuration with every field {@code patch} gives replaced. */
    public MachineConfiguration patchedWith(MachineConfiguration patch) {
        return new MachineConfiguration(
                patch.vcpuCount != null ? patch.vcpuCount : vcpuCount,
                patch.memSizeMib != null ? patch.memSizeMib : memSizeMib,
                patch.smt != null ? patch.smt : smt,
                patch.trackDirtyPages != null ? patch.trackDirtyPages : trackDirtyPages,
                patch.cpuTemplate != null ? patch.cpuTemplate : cpuTemplate,
                patch.hugePages != null ? patch.hugePages : hugePages);
    }
}
