package io.jkvm.vmm.diag;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A {@link MachineReport} as a JSON-ready tree (maps, lists, strings, numbers) for the API's
 * {@code GET /jkvm/vcpus}. Register and MSR values are hex strings ("0xffffffff81000000"): 64-bit
 * addresses do not survive JSON parsers that read numbers as doubles. Counts are numbers.
 */
public final class ReportJson {
    private ReportJson() {}

    public static Map<String, Object> of(MachineReport r) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("taken_at", r.takenAt().toString());
        m.put("machine_state", r.machineState());
        List<Object> vcpus = new ArrayList<>();
        for (VcpuReport v : r.vcpus()) {
            vcpus.add(vcpu(v));
        }
        m.put("vcpus", vcpus);
        if (r.irqchip() != null) {
            m.put("irqchip", irqchip(r.irqchip()));
        }
        m.put("errors", r.errors());
        return m;
    }

    private static Map<String, Object> vcpu(VcpuReport v) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("id", v.id());
        m.put("phase", v.phase());
        m.put("last_exit", v.lastExit());
        m.put("exit_total", v.exitTotal());
        m.put("exits", v.exits());
        m.put("note", v.note());
        if (!v.stack().isEmpty()) {
            m.put("stack", v.stack());
        }
        VcpuState s = v.state();
        if (s == null) {
            return m;
        }
        m.put("mp_state", VcpuState.mpStateName(s.mpState()));
        if (s.registers() != null) {
            VcpuState.Registers g = s.registers();
            Map<String, Object> regs = new LinkedHashMap<>();
            regs.put("rip", hex(g.rip()));
            regs.put("rsp", hex(g.rsp()));
            regs.put("rflags", hex(g.rflags()));
            regs.put("interrupts_enabled", g.interruptsEnabled());
            regs.put("rax", hex(g.rax()));
            regs.put("cs", hex(g.cs()));
            regs.put("cpl", g.cpl());
            regs.put("cr0", hex(g.cr0()));
            regs.put("cr2", hex(g.cr2()));
            regs.put("cr3", hex(g.cr3()));
            regs.put("cr4", hex(g.cr4()));
            regs.put("efer", hex(g.efer()));
            regs.put("apic_base", hex(g.apicBase()));
            regs.put("x2apic", g.x2apic());
            m.put("registers", regs);
        }
        if (s.lapic() != null) {
            LapicState l = s.lapic();
            Map<String, Object> a = new LinkedHashMap<>();
            a.put("id", hex(l.id() & 0xffffffffL));
            a.put("software_enabled", l.softwareEnabled());
            a.put("svr", hex(l.svr() & 0xffffffffL));
            a.put("tpr", hex(l.tpr() & 0xffffffffL));
            a.put("ppr", hex(l.ppr() & 0xffffffffL));
            a.put("isr", l.isr());
            a.put("irr", l.irr());
            a.put("tmr", l.tmr());
            a.put("esr", hex(l.esr() & 0xffffffffL));
            a.put("icr", hex(((long) l.icrHigh() << 32) | (l.icrLow() & 0xffffffffL)));
            a.put("lvt_timer", hex(l.lvtTimer() & 0xffffffffL));
            a.put("timer_mode", l.timerMode());
            a.put("timer_vector", l.timerVector());
            a.put("tmict", l.tmict() & 0xffffffffL);
            a.put("tmcct", l.tmcct() & 0xffffffffL);
            a.put("tdcr", hex(l.tdcr() & 0xffffffffL));
            a.put("lvt_lint0", hex(l.lvtLint0() & 0xffffffffL));
            a.put("lvt_lint1", hex(l.lvtLint1() & 0xffffffffL));
            a.put("lvt_error", hex(l.lvtError() & 0xffffffffL));
            m.put("lapic", a);
        }
        if (s.events() != null) {
            VcpuEvents e = s.events();
            Map<String, Object> ev = new LinkedHashMap<>();
            ev.put("exception", Map.of("injected", e.exceptionInjected(), "pending", e.exceptionPending(),
                    "vector", e.exceptionVector(), "has_error_code", e.exceptionHasErrorCode(),
                    "error_code", hex(e.exceptionErrorCode() & 0xffffffffL)));
            ev.put("interrupt", Map.of("injected", e.interruptInjected(), "vector", e.interruptVector(),
                    "soft", e.interruptSoft(), "shadow", e.interruptShadow()));
            ev.put("nmi", Map.of("injected", e.nmiInjected(), "pending", e.nmiPending(), "masked", e.nmiMasked()));
            ev.put("smi_pending", e.smiPending());
            ev.put("in_smm", e.inSmm());
            ev.put("init_latched", e.latchedInit());
            ev.put("triple_fault_pending", e.tripleFaultPending());
            ev.put("summary", ReportText.events(e));
            m.put("events", ev);
        }
        Map<String, Object> msrs = new LinkedHashMap<>();
        s.msrs().forEach((k, val) -> msrs.put(k, hex(val)));
        m.put("msrs", msrs);
        if (!s.errors().isEmpty()) {
            m.put("errors", s.errors());
        }
        return m;
    }

    private static Map<String, Object> irqchip(IrqchipState c) {
        Map<String, Object> m = new LinkedHashMap<>();
        if (c.master() != null) {
            m.put("pic_master", pic(c.master()));
        }
        if (c.slave() != null) {
            m.put("pic_slave", pic(c.slave()));
        }
        if (c.ioapic() != null) {
            Map<String, Object> io = new LinkedHashMap<>();
            io.put("id", c.ioapic().id());
            io.put("irr", hex(c.ioapic().irr() & 0xffffffffL));
            List<Object> pins = new ArrayList<>();
            for (IrqchipState.Redirection r : c.ioapic().entries()) {
                Map<String, Object> p = new LinkedHashMap<>();
                p.put("pin", r.pin());
                p.put("vector", r.vector());
                p.put("delivery_mode", ReportText.deliveryMode(r.deliveryMode()));
                p.put("destination", r.destination());
                p.put("logical", r.logicalDestination());
                p.put("level_triggered", r.levelTriggered());
                p.put("active_low", r.activeLow());
                p.put("masked", r.masked());
                p.put("remote_irr", r.remoteIrr());
                p.put("delivery_pending", r.deliveryPending());
                pins.add(p);
            }
            io.put("redirection", pins);
            m.put("ioapic", io);
        }
        if (c.pit() != null) {
            m.put("pit_channel0", Map.of("mode", c.pit().mode(), "count", c.pit().count() & 0xffffffffL,
                    "gate", c.pit().gate(), "flags", c.pit().flags()));
        }
        if (c.kvmclock() != null) {
            m.put("kvmclock", Map.of("clock_ns", c.kvmclock().clockNs(), "flags", c.kvmclock().flags(),
                    "tsc_stable", c.kvmclock().tscStable()));
        }
        return m;
    }

    private static Map<String, Object> pic(IrqchipState.Pic p) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("irr", hex(p.irr()));
        m.put("imr", hex(p.imr()));
        m.put("isr", hex(p.isr()));
        m.put("irq_base", hex(p.irqBase()));
        m.put("elcr", hex(p.elcr()));
        m.put("auto_eoi", p.autoEoi());
        return m;
    }

    static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }
}
