package io.jkvm.arch.x86.cpuid;

import io.jkvm.kvm.CpuidEntry;

import java.util.ArrayList;
import java.util.List;

/**
 * Firecracker's static CPU templates (machine-config {@code cpu_template}; docs/cpu_templates/
 * cpu-templates.md, deprecated there since v1.5 in favour of custom templates but still in its API).
 * C3 and T2 bring the guest close to AWS C3/T2 instances on Intel Skylake, Cascade Lake and Ice
 * Lake; T2S (Skylake and Cascade Lake) also fixes IA32_ARCH_CAPABILITIES for migrations between
 * them; T2CL (Intel Cascade Lake/Ice Lake) and T2A (AMD Milan) expose the same instruction sets so
 * the two vendors can form one fleet. Each is only allowed on its vendor (Firecracker: "CPU
 * vendor mismatched between actual CPU and CPU template"). Firecracker also checks the CPU model
 * (family/model/stepping); jkvm checks the vendor only.
 *
 * <p>The data: per leaf/subleaf/register, the bits fixed (mask) and their values, as Firecracker's
 * static templates define them. Register meanings: Intel SDM Vol. 2A "CPUID" (leaf 1 version and
 * feature bits, leaf 7.0 structured extended features, leaf 0xD XSAVE components and 0xD.1 XSAVEC/
 * XGETBV1/XSAVES), AMD APM Vol. 3 Appendix E (0x80000001 extended features, 0x80000008 EBX
 * feature bits such as WBNOINVD and the IBPB/IBRS/STIBP/SSBD controls), and Intel's "CPUID
 * Enumeration and Architectural MSRs" for IA32_ARCH_CAPABILITIES (MSR 0x10a).
 */
public enum StaticCpuTemplate {
    C3(Vendor.INTEL, List.of(
            // Leaf 1 EAX: family 6 model 0x3e stepping 4 (Ivy Bridge-EP as on C3).
            r(0x1, 0, 0, CpuidRegister.EAX, 0x0fff3fff, 0x000306e4),
            // Leaf 1 ECX: DTES64, MONITOR, DS-CPL, VMX, TM2, CNXT-ID, SDBG, FMA, xTPR, PDCM, MOVBE off.
            r(0x1, 0, 0, CpuidRegister.ECX, 0x0040dd3c, 0),
            // Leaf 1 EDX: PSN, DS, ACPI, SS, TM, PBE off; MCE and MTRR on.
            r(0x1, 0, 0, CpuidRegister.EDX, 0xa8641080, 0x00001080),
            // Leaf 7.0 EBX: SGX, BMI1/2, HLE, AVX2, INVPCID, RTM, RDT, MPX, AVX-512*, RDSEED, ADX,
            // CLFLUSHOPT, CLWB, PT, SHA off.
            r(0x7, 0, 1, CpuidRegister.EBX, 0xffafdd3c, 0),
            // Leaf 7.0 ECX: AVX512_VBMI, UMIP, PKU, OSPKE, AVX512_VNNI, VPOPCNTDQ, LA57, RDPID, SGX_LC off.
            r(0x7, 0, 1, CpuidRegister.ECX, 0x4041481e, 0),
            // Leaf 7.0 EDX: AVX512_4VNNIW, AVX512_4FMAPS off.
            r(0x7, 0, 1, CpuidRegister.EDX, 0x0000000c, 0),
            // Leaf 0xD.0 EAX: MPX, AVX-512 and PKRU state components off.
            r(0xd, 0, 1, CpuidRegister.EAX, 0x000002f8, 0),
            // Leaf 0xD.1 EAX: XSAVEC, XGETBV with ECX=1, XSAVES off.
            r(0xd, 1, 1, CpuidRegister.EAX, 0x0000000e, 0),
            // 0x80000001 ECX: LZCNT, PREFETCHW off; EDX: 1-GiB pages off.
            r(0x80000001, 0, 0, CpuidRegister.ECX, 0x00000120, 0),
            r(0x80000001, 0, 0, CpuidRegister.EDX, 0x04000000, 0)), List.of()),
    T2(Vendor.INTEL, t2(0x20000100, 0x04000000, 0x00000200, 0), List.of()),
    /** T2 plus IA32_ARCH_CAPABILITIES fixed whole (0xc0a0c4c: RSBA, SKIP_L1DFL_VMENTRY, IF_PSCHANGE_MC_NO, TSX_CTRL, MISC_PACKAGE_CTLS, ENERGY_FILTERING_CTL, FB_CLEAR, GDS_NO, RFDS_NO). */
    T2S(Vendor.INTEL, t2(0x20000100, 0x04000000, 0x00000200, 0),
            List.of(new MsrModifier(0x10a, new RegisterBitmap(64, -1L, 0x0c0a0c4cL)))),
    /** T2 with more of 0x80000001 off and IA32_ARCH_CAPABILITIES bits that differ between Cascade Lake and Ice Lake cleared. */
    T2CL(Vendor.INTEL, t2(0x200001c0, 0x07c00000, 0x00000200, 0),
            List.of(new MsrModifier(0x10a, new RegisterBitmap(64, 0xffffffffe2f51e00L, 0)))),
    /** The T2 instruction-set baseline on AMD: 0x80000008 EBX keeps CLZERO off and reports IBPB/IBRS/STIBP as Milan does. */
    T2A(Vendor.AMD, t2(0x200001c4, 0x06400000, 0x001c0205, 0x001c0004), List.of());

    /** The host CPU vendors a static template is for (CPUID leaf 0 EBX, EDX, ECX). */
    public enum Vendor {
        INTEL("GenuineIntel"), AMD("AuthenticAMD");

        private final String id;

        Vendor(String id) {
            this.id = id;
        }

        public String id() {
            return id;
        }
    }

    private final Vendor vendor;
    private final CpuTemplate template;

    StaticCpuTemplate(Vendor vendor, List<Row> rows, List<MsrModifier> msrs) {
        this.vendor = vendor;
        List<CpuidModifier> mods = new ArrayList<>();
        for (Row row : rows) {
            CpuidModifier.Register reg = new CpuidModifier.Register(row.register, new RegisterBitmap(32,
                    row.mask & 0xffffffffL, row.value & 0xffffffffL));
            CpuidModifier last = mods.isEmpty() ? null : mods.getLast();
            if (last != null && last.leaf() == row.leaf && last.subleaf() == row.subleaf) {
                List<CpuidModifier.Register> regs = new ArrayList<>(last.registers());
                regs.add(reg);
                mods.set(mods.size() - 1, new CpuidModifier(row.leaf, row.subleaf, row.flags, regs));
            } else {
                mods.add(new CpuidModifier(row.leaf, row.subleaf, row.flags, List.of(reg)));
            }
        }
        this.template = new CpuTemplate(List.of(), mods, msrs);
    }

    public Vendor vendor() {
        return vendor;
    }

    public CpuTemplate template() {
        return template;
    }

    /** The template named {@code name} (C3, T2, T2S, T2CL, T2A), or null. "None" is not a template. */
    public static StaticCpuTemplate byName(String name) {
        for (StaticCpuTemplate t : values()) {
            if (t.name().equals(name)) {
                return t;
            }
        }
        return null;
    }

    /** The 12-character vendor string of CPUID leaf 0 (EBX, EDX, ECX), or "" if there is no leaf 0. */
    public static String hostVendor(List<CpuidEntry> cpuid) {
        for (CpuidEntry e : cpuid) {
            if (e.function() == 0) {
                byte[] b = new byte[12];
                int[] regs = {e.ebx(), e.edx(), e.ecx()};
                for (int i = 0; i < 12; i++) {
                    b[i] = (byte) (regs[i / 4] >>> (8 * (i % 4)));
                }
                return new String(b, java.nio.charset.StandardCharsets.ISO_8859_1);
            }
        }
        return "";
    }

    /**
     * The leaves T2, T2S, T2CL and T2A share, then their own 0x80000001 ECX/EDX and 0x80000008 EBX.
     * Leaf 1 EAX: family 6 model 0x3f stepping 2 (Haswell-EP as on T2); ECX and EDX as C3's list
     * plus EST, SMX, TM and PBE off and FMA/MOVBE kept. Leaf 7.0 EBX: SGX, HLE, RTM, RDT, MPX,
     * AVX-512*, RDSEED, ADX, PCOMMIT, CLFLUSHOPT, CLWB, PT, SHA off, ERMS (bit 9) on; ECX: the
     * AVX-512 extensions, UMIP, PKU/OSPKE, GFNI, VAES, VPCLMULQDQ, LA57, RDPID, SGX_LC off; EDX:
     * AVX512_4VNNIW/4FMAPS, fast short REP MOV, AVX512_VP2INTERSECT off. 0x80000001 ECX bit 8
     * (PREFETCHW) and 29 (MONITORX) off everywhere; T2CL/T2A also the AMD-only SSE4A/MisAlignSse
     * (T2A: SVM) and more AMD-defined EDX bits; EDX bit 26 (1-GiB pages) off everywhere;
     * 0x80000008 EBX bit 9 (WBNOINVD) off, and on T2A CLZERO
     * off, RstrFpErrPtrs and IbrsPreferred/IbrsSameMode/EferLmsleUnsupported fixed.
     */
    private static List<Row> t2(int ext1Ecx, int ext1Edx, int ext8EbxMask, int ext8EbxValue) {
        return List.of(
                r(0x1, 0, 0, CpuidRegister.EAX, 0x0fff3fff, 0x000306f2),
                r(0x1, 0, 0, CpuidRegister.ECX, 0x0004cdfc, 0),
                r(0x1, 0, 0, CpuidRegister.EDX, 0xe8641080, 0x00001080),
                r(0x7, 0, 1, CpuidRegister.EBX, 0xffefda14, 0x00000200),
                r(0x7, 0, 1, CpuidRegister.ECX, 0x40415f5e, 0),
                r(0x7, 0, 1, CpuidRegister.EDX, 0x0000011c, 0),
                r(0xd, 0, 1, CpuidRegister.EAX, 0x000002f8, 0),
                r(0xd, 1, 1, CpuidRegister.EAX, 0x0000000e, 0),
                r(0x80000001, 0, 0, CpuidRegister.ECX, ext1Ecx, 0),
                r(0x80000001, 0, 0, CpuidRegister.EDX, ext1Edx, 0),
                r(0x80000008, 0, 0, CpuidRegister.EBX, ext8EbxMask, ext8EbxValue));
    }

    private record Row(int leaf, int subleaf, int flags, CpuidRegister register, int mask, int value) {}

    private static Row r(int leaf, int subleaf, int flags, CpuidRegister register, int mask, int value) {
        return new Row(leaf, subleaf, flags, register, mask, value);
    }
}
