package io.jkvm.kvm;

/** One struct kvm_cpuid_entry2 (linux/kvm.h): the result registers of CPUID(function, index). */
public record CpuidEntry(int function, int index, int flags, int eax, int ebx, int ecx, int edx) {
    /** kvm_cpuid_entry2.flags: the index (ECX input) is significant for this leaf. */
    public static final int FLAG_SIGNIFICANT_INDEX = 1;

    public CpuidEntry withRegs(int eax, int ebx, int ecx, int edx) {
        return new CpuidEntry(function, index, flags, eax, ebx, ecx, edx);
    }
}
