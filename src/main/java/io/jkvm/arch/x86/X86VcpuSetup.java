package io.jkvm.arch.x86;

import io.jkvm.arch.x86.cpu.BootCpuState;
import io.jkvm.arch.x86.cpu.BootMsrs;
import io.jkvm.arch.x86.cpu.Segment;
import io.jkvm.arch.x86.cpuid.CpuTemplate;
import io.jkvm.arch.x86.cpuid.CpuidBuilder;
import io.jkvm.kvm.CpuidEntry;
import io.jkvm.kvm.Kvm;
import io.jkvm.kvm.KvmStructs;
import io.jkvm.kvm.MsrEntry;
import io.jkvm.kvm.Regs;
import io.jkvm.kvm.Sregs;
import io.jkvm.kvm.StructBuffer;
import io.jkvm.kvm.VcpuFd;

import java.util.List;

/**
 * The vCPUs of a machine that boots (not one restored, whose vCPUs get their saved state): what
 * every vCPU gets before its first KVM_RUN (CPUID, MSRs, FPU and LAPIC as after reset) and the
 * boot CPU's registers as {@link X86BootSetup} said they must be. The other half of
 * {@link X86BootSetup}, which prepares guest RAM.
 */
public final class X86VcpuSetup {
    private X86VcpuSetup() {}

    /** The CPU model the guest sees: what KVM supports, nested virtualization on request, a CPU template over both. */
    public record CpuModel(List<CpuidEntry> supported, boolean nested, CpuTemplate template) {
        public CpuModel {
            supported = List.copyOf(supported);
        }
    }

    /**
     * Sets every vCPU up and the boot CPU ({@code vcpus.get(0)}) to {@code bsp}.
     *
     * @throws IllegalStateException if the template needs a KVM capability or MSR this host lacks
     */
    public static void configure(Kvm kvm, List<VcpuFd> vcpus, CpuModel model, BootCpuState bsp) {
        // Leaf 1 ECX[24] (TSC-deadline timer, KVM_CAP_TSC_DEADLINE_TIMER) stays clear although QEMU
        // and Firecracker set it: lab runs with it set saw the lab machine stop twice in ~30 boots,
        // unexplained. It goes in once measured against the lab.
        CpuidBuilder cpuid = new CpuidBuilder(model.supported(), model.nested());
        CpuTemplate template = model.template();
        for (int cap : template.kvmCapabilities()) {
            if (kvm.checkExtension(cap) <= 0) {
                throw new IllegalStateException("the CPU template needs KVM capability " + cap + ", which this host lacks");
            }
        }
        for (VcpuFd v : vcpus) {
            // The template after CpuidBuilder (topology, hypervisor bit) and before KVM_SET_CPUID2;
            // its MSRs after KVM_SET_CPUID2, which decides which MSRs KVM accepts (api.rst).
            v.setCpuid(template.applyToCpuid(cpuid.forVcpu(v.id(), vcpus.size())));
            v.setMsrs(template.applyToMsrs(BootMsrs.entries(), addr -> currentMsr(v, addr)));
            // x87 and SSE control words as after FNINIT / reset (Intel SDM 9.1.1).
            StructBuffer fpu = v.getFpu();
            fpu.u16(KvmStructs.Fpu.FCW, 0x37f);
            fpu.u32(KvmStructs.Fpu.MXCSR, 0x1f80);
            v.setFpu(fpu);
            // LINT0 as ExtINT (the 8259 behind the local APIC), LINT1 as NMI: the virtual-wire
            // setup of a PC (MP spec 3.6.2.2), which Linux expects before switching to the IOAPIC.
            StructBuffer lapic = v.getLapic();
            lapic.u32(KvmStructs.Lapic.LVT_LINT0, (lapic.u32(KvmStructs.Lapic.LVT_LINT0) & ~0x700 & ~0x10000) | 0x700);
            lapic.u32(KvmStructs.Lapic.LVT_LINT1, (lapic.u32(KvmStructs.Lapic.LVT_LINT1) & ~0x700 & ~0x10000) | 0x400);
            v.setLapic(lapic);
        }
        setBootRegisters(vcpus.getFirst(), bsp);
    }

    private static void setBootRegisters(VcpuFd boot, BootCpuState bsp) {
        Sregs s = boot.getSregs();
        s.cs(seg(bsp.cs()));
        s.segment(KvmStructs.Sregs.DS, seg(bsp.ds()));
        s.segment(KvmStructs.Sregs.ES, seg(bsp.es()));
        s.segment(KvmStructs.Sregs.FS, seg(bsp.fs()));
        s.segment(KvmStructs.Sregs.GS, seg(bsp.gs()));
        s.segment(KvmStructs.Sregs.SS, seg(bsp.ss()));
        s.tr(seg(bsp.tr()));
        s.ldt(seg(bsp.ldt()));
        s.gdt(bsp.gdt().base(), bsp.gdt().limit());
        s.idt(bsp.idt().base(), bsp.idt().limit());
        s.cr0(bsp.cr0());
        s.cr3(bsp.cr3());
        s.cr4(bsp.cr4());
        s.efer(bsp.efer());
        boot.setSregs(s);
        Regs r = new Regs();
        r.rip(bsp.rip());
        r.rsi(bsp.rsi());
        r.rbx(bsp.rbx());
        r.rsp(bsp.rsp());
        r.rbp(bsp.rsp());
        r.rflags(bsp.rflags());
        boot.setRegs(r);
    }

    /** An MSR's value on a fresh vCPU, which a CPU template's modifier starts from. */
    private static long currentMsr(VcpuFd v, int addr) {
        List<MsrEntry> got = v.getMsrs(new int[] {addr});
        if (got.isEmpty()) {
            throw new IllegalStateException(String.format(
                    "the CPU template changes MSR %#x, which KVM cannot read on this host", addr));
        }
        return got.getFirst().data();
    }

    private static Sregs.Seg seg(Segment s) {
        return new Sregs.Seg(s.base(), (int) s.limit(), s.selector(), s.type(), s.present(), s.dpl(), s.db(),
                s.s(), s.l(), s.g(), s.avl(), s.unusable());
    }
}
