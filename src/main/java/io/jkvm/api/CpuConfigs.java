package io.jkvm.api;

import io.jkvm.arch.x86.cpuid.CpuTemplate;
import io.jkvm.arch.x86.cpuid.CpuidModifier;
import io.jkvm.arch.x86.cpuid.CpuidRegister;
import io.jkvm.arch.x86.cpuid.MsrModifier;
import io.jkvm.arch.x86.cpuid.RegisterBitmap;

import java.util.ArrayList;
import java.util.List;

/**
 * A {@link CpuConfig} checked and turned into a {@link CpuTemplate}; every refusal is a 400
 * naming the field by its path ({@code cpuid_modifiers[2].modifiers[0].bitmap}) and the leaf,
 * register or MSR it belongs to.
 */
final class CpuConfigs {
    /** kvm_cpuid_entry2 flags KVM defines: SIGNIFCANT_INDEX 1, STATEFUL_FUNC 2, STATE_READ_NEXT 4 (linux/kvm.h). */
    static final int MAX_CPUID_FLAGS = 7;

    private CpuConfigs() {}

    static CpuTemplate toTemplate(CpuConfig c) {
        List<Integer> caps = new ArrayList<>();
        List<String> given = orEmpty(c.kvmCapabilities());
        bound("kvm_capabilities", given.size(), CpuTemplate.MAX_KVM_CAPABILITIES);
        for (int i = 0; i < given.size(); i++) {
            caps.add(capability("kvm_capabilities[" + i + "]", given.get(i)));
        }
        List<CpuidModifier> cpuid = new ArrayList<>();
        List<CpuConfig.CpuidLeaf> leaves = orEmpty(c.cpuidModifiers());
        bound("cpuid_modifiers", leaves.size(), CpuTemplate.MAX_CPUID_MODIFIERS);
        for (int i = 0; i < leaves.size(); i++) {
            cpuid.add(leaf("cpuid_modifiers[" + i + "]", leaves.get(i)));
        }
        List<MsrModifier> msrs = new ArrayList<>();
        List<CpuConfig.Msr> given2 = orEmpty(c.msrModifiers());
        bound("msr_modifiers", given2.size(), CpuTemplate.MAX_MSR_MODIFIERS);
        for (int i = 0; i < given2.size(); i++) {
            msrs.add(msr("msr_modifiers[" + i + "]", given2.get(i)));
        }
        return new CpuTemplate(caps, cpuid, msrs);
    }

    /**
     * "N" adds capability N to what the host's KVM must have. "!N" removes one from Firecracker's
     * built-in checklist; jkvm's own checks are not a list a template can edit, so it is refused.
     */
    private static int capability(String field, String s) {
        if (s == null) {
            throw ApiException.badField(field, field + ": null is not a KVM capability");
        }
        if (s.startsWith("!")) {
            throw ApiException.badField("kvm_capabilities", field + " '" + abbreviate(s)
                    + "': removing a KVM capability from the checks is not supported (jkvm's required capabilities are fixed)");
        }
        if (!s.matches("[0-9]{1,9}")) {
            throw ApiException.badField("kvm_capabilities", field + " '" + abbreviate(s)
                    + "': not a KVM capability number (decimal, as in linux/kvm.h)");
        }
        return Integer.parseInt(s);
    }

    private static CpuidModifier leaf(String field, CpuConfig.CpuidLeaf l) {
        if (l == null) {
            throw ApiException.badField("cpuid_modifiers", field + ": null");
        }
        int leaf = u32(field + ".leaf", l.leaf());
        int subleaf = u32(field + ".subleaf", l.subleaf());
        String where = String.format("leaf %#x subleaf %#x", leaf, subleaf);
        if (l.flags() == null) {
            throw ApiException.badField("flags", field + ".flags: missing (" + where + ")");
        }
        if (l.flags() < 0 || l.flags() > MAX_CPUID_FLAGS) {
            throw ApiException.badField("flags", field + ".flags " + l.flags() + " (" + where
                    + "): KVM's CPUID entry flags are 0.." + MAX_CPUID_FLAGS);
        }
        List<CpuConfig.Register> regs = orEmpty(l.modifiers());
        bound(field + ".modifiers", regs.size(), CpuidModifier.MAX_REGISTERS);
        List<CpuidModifier.Register> out = new ArrayList<>();
        for (int j = 0; j < regs.size(); j++) {
            String rf = field + ".modifiers[" + j + "]";
            CpuConfig.Register r = regs.get(j);
            if (r == null) {
                throw ApiException.badField("modifiers", rf + ": null (" + where + ")");
            }
            CpuidRegister reg = CpuidRegister.fromJson(r.register());
            if (reg == null) {
                throw ApiException.badField("register", rf + ".register '" + abbreviate(String.valueOf(r.register()))
                        + "' (" + where + "): not one of eax, ebx, ecx, edx");
            }
            for (CpuidModifier.Register seen : out) {
                if (seen.register() == reg) {
                    throw ApiException.badField("register", rf + ".register " + reg.jsonName() + " (" + where
                            + "): given twice");
                }
            }
            out.add(new CpuidModifier.Register(reg, bitmap(rf + ".bitmap", r.bitmap(), 32, where + " " + reg.jsonName())));
        }
        return new CpuidModifier(leaf, subleaf, l.flags(), out);
    }

    private static MsrModifier msr(String field, CpuConfig.Msr m) {
        if (m == null) {
            throw ApiException.badField("msr_modifiers", field + ": null");
        }
        int addr = u32(field + ".addr", m.addr());
        return new MsrModifier(addr, bitmap(field + ".bitmap", m.bitmap(), 64, String.format("MSR %#x", addr)));
    }

    private static RegisterBitmap bitmap(String field, String text, int width, String where) {
        try {
            return RegisterBitmap.parse(text, width);
        } catch (IllegalArgumentException e) {
            throw ApiException.badField("bitmap", field + " (" + where + "): " + e.getMessage()
                    + " (expected 0b and up to " + width + " of 0, 1, x)");
        }
    }

    /** Firecracker's number strings: "0x" hexadecimal or "0b" binary, fitting 32 bits. */
    static int u32(String field, String s) {
        String name = field.substring(field.lastIndexOf('.') + 1);
        if (s == null) {
            throw ApiException.badField(name, field + ": missing");
        }
        int radix = s.startsWith("0x") ? 16 : s.startsWith("0b") ? 2 : 0;
        if (radix == 0) {
            throw ApiException.badField(name, field + " '" + abbreviate(s)
                    + "': no number prefix (0x for hexadecimal, 0b for binary)");
        }
        try {
            long v = Long.parseLong(s.substring(2), radix);
            if (v < 0 || v > 0xffffffffL || s.length() > 2 + 64) {
                throw new NumberFormatException();
            }
            return (int) v;
        } catch (NumberFormatException e) {
            throw ApiException.badField(name, field + " '" + abbreviate(s) + "': not a 32-bit number");
        }
    }

    private static void bound(String field, int size, int max) {
        if (size > max) {
            throw ApiException.badField(field.replaceAll(".*\\.", ""), field + ": " + size + " entries, at most " + max);
        }
    }

    private static <T> List<T> orEmpty(List<T> l) {
        return l == null ? List.of() : l;
    }

    private static String abbreviate(String s) {
        return s.length() > 80 ? s.substring(0, 80) + "..." : s;
    }
}
