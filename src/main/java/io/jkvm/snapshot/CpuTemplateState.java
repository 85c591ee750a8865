package io.jkvm.snapshot;

import io.jkvm.arch.x86.cpuid.CpuTemplate;
import io.jkvm.arch.x86.cpuid.CpuidModifier;
import io.jkvm.arch.x86.cpuid.CpuidRegister;
import io.jkvm.arch.x86.cpuid.MsrModifier;
import io.jkvm.arch.x86.cpuid.RegisterBitmap;

import java.util.ArrayList;
import java.util.List;

/**
 * A VM's CPU template inside its {@code vm_config} record. The restored vCPUs get their CPUID
 * from the vCPU state (KVM_GET_CPUID2 at capture, KVM_SET_CPUID2 at restore), so this copy is what
 * a later boot of the same configuration (a reboot with on-reboot=restart) applies again.
 *
 * <pre>
 * u32 capability count, i32 each;
 * u32 CPUID modifier count, each {i32 leaf, i32 subleaf, i32 flags, u8 register count,
 *     each {u8 register 0..3, i32 mask, i32 value}};
 * u32 MSR modifier count, each {i32 addr, i64 mask, i64 value}
 * </pre>
 * Counts are bounded by {@link CpuTemplate}'s limits; a value outside its mask is refused.
 */
final class CpuTemplateState {
    private CpuTemplateState() {}

    static void write(CpuTemplate t, StateWriter w) {
        w.i32(t.kvmCapabilities().size());
        t.kvmCapabilities().forEach(w::i32);
        w.i32(t.cpuid().size());
        for (CpuidModifier m : t.cpuid()) {
            w.i32(m.leaf()).i32(m.subleaf()).i32(m.flags()).u8(m.registers().size());
            for (CpuidModifier.Register r : m.registers()) {
                w.u8(r.register().ordinal()).i32((int) r.bitmap().mask()).i32((int) r.bitmap().value());
            }
        }
        w.i32(t.msrs().size());
        for (MsrModifier m : t.msrs()) {
            w.i32(m.addr()).i64(m.bitmap().mask()).i64(m.bitmap().value());
        }
    }

    static CpuTemplate read(BoundedReader r) {
        try {
            int nc = r.count("CPU template capability count", CpuTemplate.MAX_KVM_CAPABILITIES);
            List<Integer> caps = new ArrayList<>();
            for (int i = 0; i < nc; i++) {
                caps.add(r.i32("CPU template capability"));
            }
            int nm = r.count("CPU template CPUID modifier count", CpuTemplate.MAX_CPUID_MODIFIERS);
            List<CpuidModifier> cpuid = new ArrayList<>();
            for (int i = 0; i < nm; i++) {
                int leaf = r.i32("CPUID leaf");
                int subleaf = r.i32("CPUID subleaf");
                int flags = r.i32("CPUID flags");
                int nr = r.u8("CPUID register count", 0, CpuidModifier.MAX_REGISTERS);
                List<CpuidModifier.Register> regs = new ArrayList<>();
                for (int j = 0; j < nr; j++) {
                    CpuidRegister reg = CpuidRegister.values()[r.u8("CPUID register", 0, 3)];
                    long mask = r.i32("CPUID mask") & 0xffffffffL;
                    long value = r.i32("CPUID value") & 0xffffffffL;
                    regs.add(new CpuidModifier.Register(reg, new RegisterBitmap(32, mask, value)));
                }
                cpuid.add(new CpuidModifier(leaf, subleaf, flags, regs));
            }
            int nmsr = r.count("CPU template MSR modifier count", CpuTemplate.MAX_MSR_MODIFIERS);
            List<MsrModifier> msrs = new ArrayList<>();
            for (int i = 0; i < nmsr; i++) {
                int addr = r.i32("MSR address");
                long mask = r.i64("MSR mask");
                msrs.add(new MsrModifier(addr, new RegisterBitmap(64, mask, r.i64("MSR value"))));
            }
            return new CpuTemplate(caps, cpuid, msrs);
        } catch (IllegalArgumentException e) {
            throw r.fail("CPU template: " + e.getMessage());
        }
    }
}
