package io.jkvm.snapshot;

import io.jkvm.kvm.Kvm;
import io.jkvm.kvm.KvmIoctls;
import io.jkvm.kvm.MsrEntry;
import io.jkvm.kvm.VcpuFd;
import io.jkvm.kvm.VmFd;
import io.jkvm.vmm.Machine;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static io.jkvm.kvm.KvmIoctls.*;

/** Reads the complete KVM state of a paused machine (every vCPU outside KVM_RUN). */
final class KvmStateCapture {
    private KvmStateCapture() {}

    static VmState capture(Machine m) {
        Kvm kvm = m.kvm();
        VmFd vm = m.vm();
        List<VcpuFd> vcpus = m.vcpus();
        int[] msrIndices = readableMsrs(vcpus.getFirst(), kvm.msrIndexList());
        boolean irqchip = m.options().irqchip();
        List<VcpuState> states = new ArrayList<>();
        for (VcpuFd v : vcpus) {
            states.add(new VcpuState(v.id(),
                    v.getRegs().bytes(),
                    v.getSregs().bytes(),
                    v.getFpu().bytes(),
                    has(vm, KVM_CAP_XSAVE) ? v.getXsave() : null,
                    has(vm, KVM_CAP_XCRS) ? v.getXcrs() : null,
                    v.getMsrs(msrIndices),
                    irqchip ? v.getLapic().bytes() : null,
                    has(vm, KVM_CAP_VCPU_EVENTS) ? v.getVcpuEvents() : null,
                    has(vm, KVM_CAP_MP_STATE) ? v.getMpState() : KVM_MP_STATE_RUNNABLE,
                    has(vm, KVM_CAP_DEBUGREGS) ? v.getDebugRegs() : null,
                    v.getCpuid()));
        }
        List<byte[]> chips = new ArrayList<>();
        byte[] pit = null;
        if (irqchip) {
            chips.add(vm.getIrqchip(KVM_IRQCHIP_PIC_MASTER));
            chips.add(vm.getIrqchip(KVM_IRQCHIP_PIC_SLAVE));
            chips.add(vm.getIrqchip(KVM_IRQCHIP_IOAPIC));
            if (has(vm, KVM_CAP_PIT_STATE2)) {
                pit = vm.getPit2(); // Machine creates the PIT with the irqchip
            }
        }
        byte[] clock = has(vm, KVM_CAP_ADJUST_CLOCK) ? vm.getClock() : null;
        return new VmState(MachineConfig.of(m.options()), states, chips, pit, clock);
    }

    static boolean has(VmFd vm, int cap) {
        return vm.checkExtension(cap) > 0;
    }

    /**
     * The MSRs of KVM_GET_MSR_INDEX_LIST that KVM_GET_MSRS can read on this vCPU. KVM_GET_MSRS
     * stops at the first MSR it cannot read and returns how many it read (api.rst,
     * KVM_GET_MSRS), so the unreadable one is dropped and the read repeated.
     */
    static int[] readableMsrs(VcpuFd v, int[] candidates) {
        List<Integer> ok = new ArrayList<>();
        int[] rest = candidates;
        while (rest.length > 0) {
            List<MsrEntry> got = v.getMsrs(rest);
            got.forEach(e -> ok.add(e.index()));
            if (got.size() == rest.length) {
                break;
            }
            rest = Arrays.copyOfRange(rest, got.size() + 1, rest.length);
        }
        return ok.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Capabilities a snapshot's optional parts need on the restoring host (for messages). */
    static String capName(int cap) {
        return switch (cap) {
            case KvmIoctls.KVM_CAP_XSAVE -> "KVM_CAP_XSAVE";
            case KvmIoctls.KVM_CAP_XCRS -> "KVM_CAP_XCRS";
            case KvmIoctls.KVM_CAP_VCPU_EVENTS -> "KVM_CAP_VCPU_EVENTS";
            case KvmIoctls.KVM_CAP_DEBUGREGS -> "KVM_CAP_DEBUGREGS";
            case KvmIoctls.KVM_CAP_PIT_STATE2 -> "KVM_CAP_PIT_STATE2";
            case KvmIoctls.KVM_CAP_ADJUST_CLOCK -> "KVM_CAP_ADJUST_CLOCK";
            default -> "capability " + cap;
        };
    }
}
