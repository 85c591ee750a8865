package io.jkvm.snapshot;

import io.jkvm.kvm.KvmException;
import io.jkvm.kvm.MsrEntry;
import io.jkvm.kvm.Regs;
import io.jkvm.kvm.Sregs;
import io.jkvm.kvm.StructBuffer;
import io.jkvm.kvm.VcpuFd;
import io.jkvm.kvm.VmFd;
import io.jkvm.vmm.Machine;

import java.util.List;

import static io.jkvm.kvm.KvmIoctls.*;

/**
 * Applies a {@link VmState} to a freshly created machine whose vCPUs have not run yet. Each
 * vCPU's CPUID is set first ({@link #applyCpuid}, or by the caller): KVM_SET_CPUID2 must precede
 * the rest, since it decides which MSRs and XSAVE features KVM accepts (api.rst, KVM_SET_CPUID2).
 *
 * <p>Order, and why (Documentation/virt/kvm/api.rst):
 * <ol>
 * <li>VM: KVM_SET_IRQCHIP (PIC master, slave, IOAPIC) and KVM_SET_PIT2 - the devices exist since
 *     machine creation (KVM_CREATE_IRQCHIP / KVM_CREATE_PIT2 must come first).</li>
 * <li>VM: KVM_SET_CLOCK before any vCPU runs, so kvmclock continues from the saved value; flags
 *     are cleared so KVM does not add the wall-clock time spent in the file (api.rst,
 *     KVM_SET_CLOCK: KVM_CLOCK_REALTIME) - the guest sees no time pass, as with Firecracker.</li>
 * <li>per vCPU: KVM_SET_MP_STATE first (before the LAPIC: setting INIT/SIPI states resets parts
 *     of the vCPU).</li>
 * <li>KVM_SET_SREGS before KVM_SET_REGS: sregs sets CR0/EFER and the segments that decide how
 *     regs are interpreted, and sets APIC_BASE, which KVM_SET_LAPIC needs.</li>
 * <li>KVM_SET_FPU, then KVM_SET_XSAVE (XSAVE is a superset of the FPU state, so it wins), then
 *     KVM_SET_XCRS.</li>
 * <li>KVM_SET_LAPIC after sregs (APIC base) and MP state.</li>
 * <li>KVM_SET_MSRS after the LAPIC: the TSC-deadline MSR is only accepted once the LAPIC timer is
 *     in TSC-deadline mode.</li>
 * <li>KVM_SET_VCPU_EVENTS after regs/sregs (which can clear pending exceptions/interrupts),
 *     then KVM_SET_DEBUGREGS.</li>
 * <li>KVM_KVMCLOCK_CTRL last (api.rst: tells a pvclock guest it was paused; EINVAL, ignored,
 *     when the guest has not enabled kvmclock).</li>
 * </ol>
 */
final class KvmStateRestore {
    private KvmStateRestore() {}

    /** Refuses, with the reason, a state this machine or host cannot take. */
    static void checkApplicable(Machine m, VmState s) {
        String why = s.config().incompatibility(m.options());
        if (why != null) {
            throw new SnapshotException("cannot restore: " + why);
        }
        VmFd vm = m.vm();
        VcpuState v0 = s.vcpus().getFirst();
        requireCap(vm, v0.xsave() != null, KVM_CAP_XSAVE);
        requireCap(vm, v0.xcrs() != null, KVM_CAP_XCRS);
        requireCap(vm, v0.events() != null, KVM_CAP_VCPU_EVENTS);
        requireCap(vm, v0.debugRegs() != null, KVM_CAP_DEBUGREGS);
        requireCap(vm, s.pit() != null, KVM_CAP_PIT_STATE2);
        requireCap(vm, s.clock() != null, KVM_CAP_ADJUST_CLOCK);
        if (!s.irqchips().isEmpty() != m.options().irqchip()) {
            throw new SnapshotException("cannot restore: irqchip state does not match the machine");
        }
    }

    private static void requireCap(VmFd vm, boolean needed, int cap) {
        if (needed && !KvmStateCapture.has(vm, cap)) {
            throw new SnapshotException("cannot restore: the snapshot holds state this host's KVM cannot take ("
                    + KvmStateCapture.capName(cap) + " missing)");
        }
    }

    /** KVM_SET_CPUID2 with each vCPU's saved CPUID (vCPUs saved without one are left alone). */
    static void applyCpuid(Machine m, VmState s) {
        for (VcpuFd v : m.vcpus()) {
            VcpuState st = s.vcpus().get(v.id());
            if (!st.cpuid().isEmpty()) {
                step(v, "KVM_SET_CPUID2", () -> v.setCpuid(st.cpuid()));
            }
        }
    }

    static void apply(Machine m, VmState s) {
        checkApplicable(m, s);
        VmFd vm = m.vm();
        for (byte[] chip : s.irqchips()) {
            vm.setIrqchip(chip);
        }
        if (s.pit() != null) {
            vm.setPit2(s.pit());
        }
        if (s.clock() != null) {
            vm.setClock(s.clock(), 0);
        }
        for (VcpuFd v : m.vcpus()) {
            VcpuState st = s.vcpus().get(v.id());
            step(v, "KVM_SET_MP_STATE", () -> v.setMpState(st.mpState()));
            Sregs sregs = new Sregs(st.sregs().clone());
            // KVM checks these against the vCPU's CPUID and the host (api.rst KVM_SET_SREGS: EINVAL):
            // the values tell a user which one this host refuses.
            step(v, String.format("KVM_SET_SREGS (cr0=%#x cr3=%#x cr4=%#x efer=%#x apic_base=%#x)", sregs.cr0(), sregs.cr3(),
                    sregs.cr4(), sregs.efer(), sregs.apicBase()), () -> v.setSregs(sregs));
            step(v, "KVM_SET_REGS", () -> v.setRegs(new Regs(st.regs().clone())));
            step(v, "KVM_SET_FPU", () -> v.setFpu(new StructBuffer(st.fpu().clone())));
            if (st.xsave() != null) {
                step(v, "KVM_SET_XSAVE", () -> v.setXsave(st.xsave()));
            }
            if (st.xcrs() != null) {
                step(v, "KVM_SET_XCRS", () -> v.setXcrs(st.xcrs()));
            }
            if (st.lapic() != null) {
                step(v, "KVM_SET_LAPIC", () -> v.setLapic(new StructBuffer(st.lapic().clone())));
            }
            if (!st.msrs().isEmpty()) {
                step(v, "KVM_SET_MSRS", () -> setMsrs(v, st.msrs()));
            }
            if (st.events() != null) {
                step(v, "KVM_SET_VCPU_EVENTS", () -> v.setVcpuEvents(st.events()));
            }
            if (st.debugRegs() != null) {
                step(v, "KVM_SET_DEBUGREGS", () -> v.setDebugRegs(st.debugRegs()));
            }
            v.kvmclockCtrl();
        }
    }

    /**
     * KVM_SET_MSRS, tolerating only refusals that lose nothing: KVM can report an MSR as readable
     * yet refuse a host write to it in this VM's configuration (e.g. MSR_KVM_ASYNC_PF_INT
     * without an in-kernel LAPIC). Such an MSR is skipped when the fresh vCPU already holds the
     * saved value; any other refusal fails the restore, naming the MSR and both values.
     */
    static void setMsrs(VcpuFd v, List<MsrEntry> msrs) {
        List<MsrEntry> rest = msrs;
        while (!rest.isEmpty()) {
            int n = v.setMsrsPrefix(rest);
            if (n >= rest.size()) {
                return;
            }
            MsrEntry refused = rest.get(n);
            var now = v.getMsrs(new int[] {refused.index()});
            if (now.size() != 1 || now.getFirst().data() != refused.data()) {
                throw new IllegalStateException(String.format("KVM refused MSR 0x%x = 0x%x (the new vCPU has %s)",
                        refused.index(), refused.data(),
                        now.isEmpty() ? "it unreadable" : String.format("0x%x", now.getFirst().data())));
            }
            rest = rest.subList(n + 1, rest.size());
        }
    }

    private static void step(VcpuFd v, String what, Runnable r) {
        try {
            r.run();
        } catch (KvmException | IllegalStateException | IllegalArgumentException e) {
            throw new SnapshotException("cannot restore vCPU " + v.id() + ": " + what + " failed: " + e.getMessage(), e);
        }
    }
}
