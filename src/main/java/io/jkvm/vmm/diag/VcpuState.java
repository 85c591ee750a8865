package io.jkvm.vmm.diag;

import io.jkvm.kvm.MsrEntry;
import io.jkvm.kvm.Regs;
import io.jkvm.kvm.Sregs;
import io.jkvm.kvm.VcpuFd;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A vCPU's KVM state as the state ioctls return it, read on the vCPU's own thread between two
 * KVM_RUNs (KVM_GET_REGS and friends wait for the vCPU mutex, which KVM_RUN holds). Each part is
 * read on its own; a part KVM refuses is null and its error is listed, so one failing ioctl does
 * not hide the rest.
 *
 * @param mpState KVM_GET_MP_STATE (api.rst 4.38): 0 runnable, 1 uninitialized (AP waiting for
 *     INIT/SIPI), 2 INIT received, 3 halted (HLT, waits for an interrupt), 4 SIPI received
 * @param msrs the clock, timer and paravirtual MSRs by name (those KVM could read)
 * @param capturedNanos System.nanoTime() when the MSRs were read (to compare TSCs across vCPUs)
 */
public record VcpuState(int mpState, Registers registers, LapicState lapic, VcpuEvents events,
        Map<String, Long> msrs, long capturedNanos, List<String> errors) {

    public VcpuState {
        msrs = msrs == null ? Map.of() : java.util.Collections.unmodifiableMap(new LinkedHashMap<>(msrs));
        errors = List.copyOf(errors);
    }

    public static final int MP_RUNNABLE = 0, MP_UNINITIALIZED = 1, MP_INIT_RECEIVED = 2, MP_HALTED = 3, MP_SIPI_RECEIVED = 4;

    /** The registers that say where a vCPU is and whether it takes interrupts. */
    public record Registers(long rip, long rsp, long rflags, long rax, long cr0, long cr2, long cr3, long cr4,
            long efer, long apicBase, int cs, int cpl) {
        public static final long RFLAGS_IF = 1 << 9;

        public boolean interruptsEnabled() {
            return (rflags & RFLAGS_IF) != 0;
        }

        /** IA32_APIC_BASE bit 10 (EXTD): x2APIC mode. */
        public boolean x2apic() {
            return (apicBase & (1 << 10)) != 0;
        }
    }

    /**
     * The MSRs read for a report: TSC and timer state, and the paravirtual ones the guest enables
     * (Documentation/virt/kvm/x86/msr.rst). A PV feature the guest turned on shows a non-zero value.
     */
    public static final Map<String, Integer> MSRS = msrNames();

    private static Map<String, Integer> msrNames() {
        Map<String, Integer> m = new LinkedHashMap<>();
        m.put("tsc", 0x10);
        m.put("tsc_adjust", 0x3b);
        m.put("tsc_deadline", 0x6e0);
        m.put("kvm_system_time", 0x4b564d01);
        m.put("kvm_wall_clock", 0x4b564d00);
        m.put("kvm_async_pf_en", 0x4b564d02);
        m.put("kvm_steal_time", 0x4b564d03);
        m.put("kvm_pv_eoi_en", 0x4b564d04);
        m.put("kvm_poll_control", 0x4b564d05);
        m.put("kvm_async_pf_int", 0x4b564d06);
        return java.util.Collections.unmodifiableMap(m);
    }

    /** Reads everything it can. Call on the vCPU's thread while it is out of KVM_RUN. */
    public static VcpuState capture(VcpuFd fd) {
        List<String> errors = new ArrayList<>();
        int mp = -1;
        try {
            mp = fd.getMpState();
        } catch (RuntimeException e) {
            errors.add(e.getMessage());
        }
        Registers regs = null;
        try {
            Regs r = fd.getRegs();
            Sregs s = fd.getSregs();
            regs = new Registers(r.rip(), r.rsp(), r.rflags(), r.rax(), s.cr0(), s.cr2(), s.cr3(), s.cr4(), s.efer(),
                    s.apicBase(), s.cs().selector(), s.segment(io.jkvm.kvm.KvmStructs.Sregs.SS).dpl());
        } catch (RuntimeException e) {
            errors.add(e.getMessage());
        }
        LapicState lapic = null;
        try {
            lapic = LapicState.decode(fd.getLapic().bytes());
        } catch (RuntimeException e) {
            errors.add(e.getMessage());
        }
        VcpuEvents events = null;
        try {
            events = VcpuEvents.decode(fd.getVcpuEvents());
        } catch (RuntimeException e) {
            errors.add(e.getMessage());
        }
        Map<String, Long> msrs = new LinkedHashMap<>();
        long when = System.nanoTime();
        for (Map.Entry<String, Integer> m : MSRS.entrySet()) {
            try {
                // One at a time: KVM_GET_MSRS stops at the first MSR it cannot read.
                List<MsrEntry> got = fd.getMsrs(new int[] {m.getValue()});
                if (!got.isEmpty()) {
                    msrs.put(m.getKey(), got.get(0).data());
                }
            } catch (RuntimeException e) {
                errors.add(e.getMessage());
            }
        }
        return new VcpuState(mp, regs, lapic, events, msrs, when, errors);
    }

    public static String mpStateName(int mp) {
        return switch (mp) {
            case MP_RUNNABLE -> "runnable";
            case MP_UNINITIALIZED -> "uninitialized";
            case MP_INIT_RECEIVED -> "init-received";
            case MP_HALTED -> "halted";
            case MP_SIPI_RECEIVED -> "sipi-received";
            case -1 -> "unknown";
            default -> "mp_state " + mp;
        };
    }
}
