package io.jkvm.arch.x86.cpuid;

import io.jkvm.kvm.CpuidEntry;
import io.jkvm.kvm.MsrEntry;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntToLongFunction;

/**
 * A CPU template (Firecracker docs/cpu_templates/cpu-templates.md): changes to the CPUID the
 * guest sees and to MSRs set at boot, so guests on different host CPUs see one baseline. Static
 * templates ({@link StaticCpuTemplate}) and custom ones ({@code PUT /cpu-config}) are both this.
 *
 * <p>Applied after {@link CpuidBuilder} (which sets topology and hypervisor bits per vCPU) and
 * before KVM_SET_CPUID2, as Firecracker applies its template before its own normalization; a
 * modifier for a leaf/subleaf KVM does not report is an error there too ("Template changes a
 * CPUID entry not supported by KVM"). KVM may still quietly refuse bits it cannot virtualize.
 *
 * @param kvmCapabilities KVM capability numbers that must be present (KVM_CHECK_EXTENSION &gt; 0)
 */
public record CpuTemplate(List<Integer> kvmCapabilities, List<CpuidModifier> cpuid, List<MsrModifier> msrs) {
    /** Bounds on what a template may hold (the API body limit bounds the JSON too). */
    public static final int MAX_CPUID_MODIFIERS = 256;
    public static final int MAX_MSR_MODIFIERS = 256;
    public static final int MAX_KVM_CAPABILITIES = 64;

    /** No template: the host's CPUID as CpuidBuilder makes it. */
    public static final CpuTemplate NONE = new CpuTemplate(List.of(), List.of(), List.of());

    public CpuTemplate {
        kvmCapabilities = List.copyOf(kvmCapabilities);
        cpuid = List.copyOf(cpuid);
        msrs = List.copyOf(msrs);
        if (cpuid.size() > MAX_CPUID_MODIFIERS) {
            throw new IllegalArgumentException("more than " + MAX_CPUID_MODIFIERS + " CPUID modifiers");
        }
        if (msrs.size() > MAX_MSR_MODIFIERS) {
            throw new IllegalArgumentException("more than " + MAX_MSR_MODIFIERS + " MSR modifiers");
        }
        if (kvmCapabilities.size() > MAX_KVM_CAPABILITIES) {
            throw new IllegalArgumentException("more than " + MAX_KVM_CAPABILITIES + " KVM capabilities");
        }
    }

    public boolean isNone() {
        return kvmCapabilities.isEmpty() && cpuid.isEmpty() && msrs.isEmpty();
    }

    /**
     * {@code entries} (one vCPU's CPUID) with every modifier applied: the entry's flags replaced,
     * each register's fixed bits forced. Modifiers apply in order, so a later one for the same
     * leaf/subleaf wins where they overlap.
     *
     * @throws IllegalArgumentException naming the leaf/subleaf a modifier finds no entry for
     */
    public List<CpuidEntry> applyToCpuid(List<CpuidEntry> entries) {
        if (cpuid.isEmpty()) {
            return entries;
        }
        List<CpuidEntry> out = new ArrayList<>(entries);
        for (CpuidModifier m : cpuid) {
            int i = indexOf(out, m.leaf(), m.subleaf());
            if (i < 0) {
                throw new IllegalArgumentException("CPUID " + m.where() + " is not among the entries KVM supports on this host");
            }
            CpuidEntry e = out.get(i);
            e = new CpuidEntry(e.function(), e.index(), m.flags(), e.eax(), e.ebx(), e.ecx(), e.edx());
            for (CpuidModifier.Register r : m.registers()) {
                e = r.register().with(e, r.bitmap().apply(r.register().get(e)));
            }
            out.set(i, e);
        }
        return List.copyOf(out);
    }

    /** The CPUID modifier whose leaf/subleaf none of {@code entries} has, or null. */
    public CpuidModifier firstUnsupported(List<CpuidEntry> entries) {
        for (CpuidModifier m : cpuid) {
            if (indexOf(entries, m.leaf(), m.subleaf()) < 0) {
                return m;
            }
        }
        return null;
    }

    /**
     * The boot MSRs with the template's modifiers applied. An MSR the boot list does not set starts
     * from {@code current} (the vCPU's value, KVM_GET_MSRS) and is appended, as Firecracker reads
     * the template's MSRs from the vCPU before modifying them.
     */
    public List<MsrEntry> applyToMsrs(List<MsrEntry> boot, IntToLongFunction current) {
        if (msrs.isEmpty()) {
            return boot;
        }
        Map<Integer, Long> values = new LinkedHashMap<>();
        for (MsrEntry e : boot) {
            values.put(e.index(), e.data());
        }
        for (MsrModifier m : msrs) {
            long base = values.containsKey(m.addr()) ? values.get(m.addr()) : current.applyAsLong(m.addr());
            values.put(m.addr(), m.bitmap().apply(base));
        }
        List<MsrEntry> out = new ArrayList<>(values.size());
        values.forEach((k, v) -> out.add(new MsrEntry(k, v)));
        return List.copyOf(out);
    }

    /** The MSR numbers the template changes, in order, without repeats. */
    public int[] msrIndices() {
        return msrs.stream().mapToInt(MsrModifier::addr).distinct().toArray();
    }

    private static int indexOf(List<CpuidEntry> entries, int leaf, int subleaf) {
        for (int i = 0; i < entries.size(); i++) {
            CpuidEntry e = entries.get(i);
            if (e.function() == leaf && e.index() == subleaf) {
                return i;
            }
        }
        return -1;
    }
}
