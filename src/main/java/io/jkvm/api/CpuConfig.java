package io.jkvm.api;

import com.fasterxml.jackson.annotation.JsonProperty;

import java.util.List;

/**
 * Firecracker's custom CPU template ({@code PUT /cpu-config}, swagger {@code CpuConfig},
 * docs/cpu_templates/schema.json) as it arrives: numbers as "0x"/"0b" strings, bitmaps as
 * {@code 0b} + 0/1/x. On x86 the aarch64 fields ({@code reg_modifiers}, {@code vcpu_features})
 * are unknown fields, refused as Firecracker refuses them. {@link CpuConfigs} checks and converts it.
 */
public record CpuConfig(
        @JsonProperty("kvm_capabilities") List<String> kvmCapabilities,
        @JsonProperty("cpuid_modifiers") List<CpuidLeaf> cpuidModifiers,
        @JsonProperty("msr_modifiers") List<Msr> msrModifiers) {

    /** One leaf/subleaf's modifiers; {@code flags} is kvm_cpuid_entry2's flags. */
    public record CpuidLeaf(
            @JsonProperty("leaf") String leaf,
            @JsonProperty("subleaf") String subleaf,
            @JsonProperty("flags") Integer flags,
            @JsonProperty("modifiers") List<Register> modifiers) {}

    /** {@code register} is eax, ebx, ecx or edx; {@code bitmap} 32 bits. */
    public record Register(
            @JsonProperty("register") String register,
            @JsonProperty("bitmap") String bitmap) {}

    /** {@code addr} the MSR's number; {@code bitmap} 64 bits. */
    public record Msr(
            @JsonProperty("addr") String addr,
            @JsonProperty("bitmap") String bitmap) {}
}
