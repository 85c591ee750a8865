package io.jkvm.arch.x86.cpuid;

import io.jkvm.kvm.CpuidEntry;

/** The four CPUID output registers, by Firecracker's template names {@code eax}..{@code edx}. */
public enum CpuidRegister {
    EAX, EBX, ECX, EDX;

    /** The lower-case name a template uses. */
    public String jsonName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }

    /** The register named {@code s} ("eax".."edx"), or null. */
    public static CpuidRegister fromJson(String s) {
        for (CpuidRegister r : values()) {
            if (r.jsonName().equals(s)) {
                return r;
            }
        }
        return null;
    }

    int get(CpuidEntry e) {
        return switch (this) {
            case EAX -> e.eax();
            case EBX -> e.ebx();
            case ECX -> e.ecx();
            case EDX -> e.edx();
        };
    }

    CpuidEntry with(CpuidEntry e, int v) {
        return switch (this) {
            case EAX -> e.withEax(v);
            case EBX -> e.withEbx(v);
            case ECX -> e.withEcx(v);
            case EDX -> e.withEdx(v);
        };
    }
}
