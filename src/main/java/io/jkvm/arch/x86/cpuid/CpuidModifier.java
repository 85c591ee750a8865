package io.jkvm.arch.x86.cpuid;

import java.util.List;

/**
 * A template's change to one CPUID leaf/subleaf: the KVM flags the entry gets (kvm_cpuid_entry2
 * flags, e.g. KVM_CPUID_FLAG_SIGNIFCANT_INDEX = 1 for leaves indexed by ECX such as 7 and 0xD) and a
 * bitmap per register. Firecracker replaces the entry's flags with the template's.
 */
public record CpuidModifier(int leaf, int subleaf, int flags, List<Register> registers) {
    /** At most one bitmap per register. */
    public static final int MAX_REGISTERS = 4;

    public CpuidModifier {
        registers = List.copyOf(registers);
        if (registers.size() > MAX_REGISTERS) {
            throw new IllegalArgumentException("more than " + MAX_REGISTERS + " register modifiers");
        }
        for (Register r : registers) {
            if (r.bitmap().width() != 32) {
                throw new IllegalArgumentException("a CPUID register bitmap has 32 bits");
            }
        }
    }

    public record Register(CpuidRegister register, RegisterBitmap bitmap) {
        public Register {
            java.util.Objects.requireNonNull(register, "register");
            java.util.Objects.requireNonNull(bitmap, "bitmap");
        }
    }

    /** "leaf 0x7 subleaf 0x0", for messages. */
    public String where() {
        return String.format("leaf %#x subleaf %#x", leaf, subleaf);
    }
}
