package io.jkvm.snapshot;

import io.jkvm.kvm.CpuidEntry;
import io.jkvm.kvm.MsrEntry;

import java.util.List;

/**
 * Everything KVM holds for one vCPU, as the raw kernel structures (x86-64 layouts of
 * asm/kvm.h), so a later jkvm or a migration target applies exactly what was read.
 * Optional parts are null when the host lacked the capability at save time.
 *
 * @param regs      struct kvm_regs (KVM_GET_REGS)
 * @param sregs     struct kvm_sregs (KVM_GET_SREGS)
 * @param fpu       struct kvm_fpu (KVM_GET_FPU)
 * @param xsave     struct kvm_xsave (KVM_GET_XSAVE, KVM_CAP_XSAVE) or null
 * @param xcrs      struct kvm_xcrs (KVM_GET_XCRS, KVM_CAP_XCRS) or null
 * @param msrs      the MSRs of KVM_GET_MSR_INDEX_LIST that KVM_GET_MSRS could read
 * @param lapic     struct kvm_lapic_state (KVM_GET_LAPIC, in-kernel irqchip only) or null
 * @param events    struct kvm_vcpu_events (KVM_CAP_VCPU_EVENTS) or null
 * @param mpState   KVM_GET_MP_STATE value
 * @param debugRegs struct kvm_debugregs (KVM_CAP_DEBUGREGS) or null
 * @param cpuid     the CPUID the vCPU presented (KVM_GET_CPUID2), empty if never set
 */
public record VcpuState(int id, byte[] regs, byte[] sregs, byte[] fpu, byte[] xsave, byte[] xcrs,
        List<MsrEntry> msrs, byte[] lapic, byte[] events, int mpState, byte[] debugRegs, List<CpuidEntry> cpuid) {
    public VcpuState {
        msrs = List.copyOf(msrs);
        cpuid = List.copyOf(cpuid);
    }
}
