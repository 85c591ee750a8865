package io.jkvm.kvm;

/** One struct kvm_cpuid_entry2 (linux/kvm.h): the result registers of CPUID(function, index). */
public record CpuidEntry(int function, int index, int flags, int eax, int ebx, int ecx, int edx) {
    /** KVM_CPUID_FLAG_SIGNIFCANT_INDEX: the entry only matches its {@code index}. */
    public static final int FLAG_SIGNIFICANT_INDEX = 1;

    public CpuidEntry withEax(int v) {
        return new CpuidEntry(function, index, flags, v, ebx, ecx, edx);
    }

    public CpuidEntry withEbx(int v) {
        return new CpuidEntry(function, index, flags, eax, v, ecx, edx);
    }

    public CpuidEntry withEcx(int v) {
        return new CpuidEntry(function, index, flags, eax, ebx, v, edx);
    }

    public CpuidEntry withEdx(int v) {
        return new CpuidEntry(function, index, flags, eax, ebx, ecx, v);
    }

    @Override
    public String toString() {
        return String.format("CpuidEntry[0x%x.%d flags=%d eax=%08x ebx=%08x ecx=%08x edx=%08x]",
                function, index, flags, eax, ebx, ecx, edx);
    }
}
