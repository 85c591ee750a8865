package io.jkvm.arch.x86.cpuid;

import io.jkvm.kvm.CpuidEntry;

import java.util.ArrayList;
import java.util.List;

/**
 * Turns the host's KVM_GET_SUPPORTED_CPUID list into the per-vCPU list for KVM_SET_CPUID2.
 * The guest sees one package of {@code vcpuCount} single-threaded cores, APIC ID = vCPU index.
 * References: Intel SDM Vol. 2A "CPUID" (leaves 1, 4, 0xA, 0xB, 0x1F), AMD APM Vol. 3 Appendix E
 * (0x80000001, 0x80000008, 0x8000001D/1E), and the KVM paravirt leaves (Documentation/virt/kvm/x86/cpuid.rst).
 *
 * <ul>
 *   <li>leaf 1: EBX[31:24] initial APIC ID, EBX[23:16] addressable logical processors (count
 *       rounded up to a power of two), EDX.HTT when more than one; ECX.hypervisor set; ECX.VMX
 *       cleared unless nested;
 *   <li>leaf 4 (and AMD 0x8000001D): core/sharing counts consistent with the topology;
 *   <li>leaves 0xB and 0x1F: regenerated: SMT level (1 thread), core level ({@code vcpuCount}),
 *       invalid level; EDX = x2APIC ID in every subleaf;
 *   <li>leaf 0xA: zeroed (no architectural PMU) unless the PMU is enabled;
 *   <li>0x40000000: "KVMKVMKVM\0\0\0" with EAX = highest 0x400000xx leaf present;
 *   <li>0x80000001 ECX.SVM cleared unless nested; on AMD/Hygon, 0x80000008 ECX core count and
 *       0x8000001E APIC/core IDs;
 *   <li>everything else (leaf 6, leaf 7, XSAVE leaves, 0x40000001, ...) passes through.
 * </ul>
 */
public final class CpuidBuilder {
    public static final int LEAF_FEATURES = 0x1;
    public static final int LEAF_CACHE = 0x4;
    public static final int LEAF_PMU = 0xa;
    public static final int LEAF_TOPOLOGY = 0xb;
    public static final int LEAF_TOPOLOGY_V2 = 0x1f;
    public static final int LEAF_KVM_SIGNATURE = 0x40000000;
    public static final int LEAF_EXT_FEATURES = 0x80000001;
    public static final int LEAF_EXT_ADDRESS_SIZES = 0x80000008;
    public static final int LEAF_AMD_CACHE = 0x8000001d;
    public static final int LEAF_AMD_TOPOLOGY = 0x8000001e;

    public static final int ECX_VMX = 1 << 5;
    public static final int ECX_HYPERVISOR = 1 << 31;
    public static final int EDX_HTT = 1 << 28;
    public static final int EXT_ECX_SVM = 1 << 2;
    /** "KVMKVMKVM\0\0\0" as EBX, ECX, EDX. */
    public static final int KVM_SIGNATURE_EBX = 0x4b4d564b;
    public static final int KVM_SIGNATURE_ECX = 0x564b4d56;
    public static final int KVM_SIGNATURE_EDX = 0x0000004d;

    /** Leaf 0 EBX of "AuthenticAMD" ("Auth") and "HygonGenuine" ("Hygo"). */
    public static final int VENDOR_AMD_EBX = 0x68747541;
    public static final int VENDOR_HYGON_EBX = 0x6f677948;

    static final int LEVEL_SMT = 1;
    static final int LEVEL_CORE = 2;

    private final List<CpuidEntry> supported;
    private final boolean nested;
    private final boolean pmu;

    /**
     * @param supported the entries from KVM_GET_SUPPORTED_CPUID
     * @param nested expose VMX/SVM so the guest can run its own VMs
     * @param pmu expose KVM's architectural PMU (leaf 0xA) instead of zeroing it
     */
    public CpuidBuilder(List<CpuidEntry> supported, boolean nested, boolean pmu) {
        this.supported = List.copyOf(supported);
        this.nested = nested;
        this.pmu = pmu;
    }

    public CpuidBuilder(List<CpuidEntry> supported, boolean nested) {
        this(supported, nested, false);
    }

    /** The list to pass to KVM_SET_CPUID2 for the vCPU with APIC ID {@code vcpuIndex}. */
    public List<CpuidEntry> forVcpu(int vcpuIndex, int vcpuCount) {
        if (vcpuCount < 1 || vcpuCount > 255 || vcpuIndex < 0 || vcpuIndex >= vcpuCount) {
            throw new IllegalArgumentException("vCPU " + vcpuIndex + " of " + vcpuCount);
        }
        Topology t = new Topology(vcpuIndex, vcpuCount);
        List<CpuidEntry> out = new ArrayList<>();
        boolean topoDone = false;
        boolean topo2Done = false;
        int maxKvmLeaf = LEAF_KVM_SIGNATURE;
        for (CpuidEntry e : supported) {
            if ((e.function() & 0xffffff00) == LEAF_KVM_SIGNATURE) {
                maxKvmLeaf = Math.max(maxKvmLeaf, e.function());
            }
        }
        boolean signatureDone = false;
        boolean amd = isAmd();
        for (CpuidEntry e : supported) {
            switch (e.function()) {
                case LEAF_FEATURES -> out.add(features(e, t));
                case LEAF_CACHE -> out.add(cache(e, t));
                case LEAF_AMD_CACHE -> out.add(cache(e, t));
                case LEAF_PMU -> out.add(pmu ? e : new CpuidEntry(e.function(), e.index(), e.flags(), 0, 0, 0, 0));
                case LEAF_TOPOLOGY -> {
                    if (!topoDone) {
                        out.addAll(topology(LEAF_TOPOLOGY, t));
                        topoDone = true;
                    }
                }
                case LEAF_TOPOLOGY_V2 -> {
                    if (!topo2Done) {
                        out.addAll(topology(LEAF_TOPOLOGY_V2, t));
                        topo2Done = true;
                    }
                }
                case LEAF_KVM_SIGNATURE -> {
                    out.add(signature(e.flags(), maxKvmLeaf));
                    signatureDone = true;
                }
                case LEAF_EXT_FEATURES -> out.add(nested ? e : e.withEcx(e.ecx() & ~EXT_ECX_SVM));
                case LEAF_EXT_ADDRESS_SIZES -> out.add(!amd ? e : e.withEcx(
                        (e.ecx() & ~0xf0ff) | (t.coreBits() << 12) | (t.count() - 1)));
                case LEAF_AMD_TOPOLOGY -> out.add(!amd ? e : new CpuidEntry(e.function(), e.index(), e.flags(),
                        t.apicId(), t.apicId() & 0xff, 0, 0));
                default -> out.add(e);
            }
        }
        if (!signatureDone) {
            out.add(signature(0, maxKvmLeaf));
        }
        return List.copyOf(out);
    }

    /** Leaf 0 vendor "AuthenticAMD" or "HygonGenuine": the AMD-defined topology leaves apply. */
    private boolean isAmd() {
        for (CpuidEntry e : supported) {
            if (e.function() == 0) {
                return e.ebx() == VENDOR_AMD_EBX || e.ebx() == VENDOR_HYGON_EBX;
            }
        }
        return false;
    }

    private CpuidEntry features(CpuidEntry e, Topology t) {
        int ebx = (e.ebx() & 0x0000ffff) | Math.min(t.addressable(), 0xff) << 16 | t.apicId() << 24;
        int ecx = e.ecx() | ECX_HYPERVISOR;
        if (!nested) {
            ecx &= ~ECX_VMX;
        }
        int edx = t.count() > 1 ? e.edx() | EDX_HTT : e.edx() & ~EDX_HTT;
        return new CpuidEntry(e.function(), e.index(), e.flags(), e.eax(), ebx, ecx, edx);
    }

    /**
     * Leaf 4 / 0x8000001D: EAX[25:14] = logical processors sharing the cache - 1 (one for per-core
     * L1/L2, the whole package for L3+), and for leaf 4 EAX[31:26] = addressable cores - 1.
     */
    private static CpuidEntry cache(CpuidEntry e, Topology t) {
        int eax = e.eax();
        if ((eax & 0x1f) == 0) {
            return e; // no more caches: leave the terminating subleaf alone
        }
        int level = (eax >>> 5) & 0x7;
        int sharing = level <= 2 ? 0 : t.addressable() - 1;
        eax = (eax & ~(0xfff << 14)) | (sharing & 0xfff) << 14;
        if (e.function() == LEAF_CACHE) {
            eax = (eax & 0x03ffffff) | (Math.min(t.addressable() - 1, 63) << 26);
        }
        return e.withEax(eax);
    }

    /** Leaf 0xB / 0x1F subleaves (SDM: "Extended Topology Enumeration Leaf"). */
    static List<CpuidEntry> topology(int function, Topology t) {
        int f = CpuidEntry.FLAG_SIGNIFICANT_INDEX;
        return List.of(
                new CpuidEntry(function, 0, f, 0, 1, LEVEL_SMT << 8, t.apicId()),
                new CpuidEntry(function, 1, f, t.coreBits(), t.count(), LEVEL_CORE << 8 | 1, t.apicId()),
                new CpuidEntry(function, 2, f, 0, 0, 2, t.apicId()));
    }

    private static CpuidEntry signature(int flags, int maxLeaf) {
        return new CpuidEntry(LEAF_KVM_SIGNATURE, 0, flags, maxLeaf,
                KVM_SIGNATURE_EBX, KVM_SIGNATURE_ECX, KVM_SIGNATURE_EDX);
    }

    /** One package, {@code count} cores of one thread; APIC ID = index. */
    record Topology(int apicId, int count) {
        /** Bits of APIC ID that number cores: ceil(log2(count)). */
        int coreBits() {
            return count <= 1 ? 0 : 32 - Integer.numberOfLeadingZeros(count - 1);
        }

        /** Addressable IDs in the package: count rounded up to a power of two. */
        int addressable() {
            return 1 << coreBits();
        }
    }
}
