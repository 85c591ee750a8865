package io.jkvm.vmm.diag;

import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

/** A {@link MachineReport} as lines for a terminal or a log (what SIGUSR1 prints). */
public final class ReportText {
    private ReportText() {}

    public static String render(MachineReport r) {
        StringBuilder sb = new StringBuilder();
        sb.append("jkvm vCPU report at ").append(r.takenAt()).append(": machine ").append(r.machineState())
                .append(", ").append(r.vcpus().size()).append(" vCPUs\n");
        for (VcpuReport v : r.vcpus()) {
            vcpu(sb, v);
        }
        if (r.irqchip() != null) {
            irqchip(sb, r.irqchip());
        }
        for (String e : r.errors()) {
            sb.append("error: ").append(e).append('\n');
        }
        return sb.toString();
    }

    private static void vcpu(StringBuilder sb, VcpuReport v) {
        VcpuState s = v.state();
        sb.append("vcpu ").append(v.id()).append(": ").append(v.phase());
        if (s != null) {
            sb.append(", mp_state ").append(VcpuState.mpStateName(s.mpState()));
        }
        sb.append("; last exit ").append(v.lastExit()).append("; exits ").append(v.exitTotal());
        if (!v.exits().isEmpty()) {
            sb.append(v.exits().entrySet().stream().sorted(Map.Entry.comparingByValue(java.util.Comparator.reverseOrder()))
                    .map(e -> e.getKey() + " " + e.getValue()).collect(Collectors.joining(", ", " (", ")")));
        }
        sb.append('\n');
        if (s != null && s.registers() != null) {
            VcpuState.Registers g = s.registers();
            sb.append(String.format("  rip=%016x rsp=%016x rflags=%08x (IF=%d) cs=%04x cpl=%d rax=%016x%n", g.rip(), g.rsp(),
                    g.rflags(), g.interruptsEnabled() ? 1 : 0, g.cs(), g.cpl(), g.rax()));
            sb.append(String.format("  cr0=%08x cr2=%016x cr3=%016x cr4=%08x efer=%x apic_base=%x%s%n", g.cr0(), g.cr2(),
                    g.cr3(), g.cr4(), g.efer(), g.apicBase(), g.x2apic() ? " (x2APIC)" : ""));
        }
        if (s != null && s.lapic() != null) {
            LapicState l = s.lapic();
            sb.append(String.format("  lapic: id=%x svr=%x (%s) tpr=%02x ppr=%02x isr=%s irr=%s tmr=%s esr=%x icr=%08x:%08x%n",
                    l.id(), l.svr(), l.softwareEnabled() ? "enabled" : "disabled", l.tpr(), l.ppr(), hex(l.isr()),
                    hex(l.irr()), hex(l.tmr()), l.esr(), l.icrHigh(), l.icrLow()));
            sb.append(String.format("  timer: lvt=%08x (%s, vector 0x%x) tmict=%d tmcct=%d tdcr=%x; lint0=%08x lint1=%08x error=%08x%n",
                    l.lvtTimer(), l.timerMode(), l.timerVector(), l.tmict() & 0xffffffffL, l.tmcct() & 0xffffffffL,
                    l.tdcr(), l.lvtLint0(), l.lvtLint1(), l.lvtError()));
        }
        if (s != null && s.events() != null) {
            sb.append("  events: ").append(events(s.events())).append('\n');
        }
        if (s != null && !s.msrs().isEmpty()) {
            sb.append("  msrs:");
            s.msrs().forEach((k, val) -> sb.append(' ').append(k).append('=').append(Long.toHexString(val)));
            Long tsc = s.msrs().get("tsc");
            Long deadline = s.msrs().get("tsc_deadline");
            if (tsc != null && deadline != null && deadline != 0) {
                sb.append(" (deadline in ").append(deadline - tsc).append(" TSC cycles)");
            }
            sb.append('\n');
        }
        if (s != null) {
            for (String e : s.errors()) {
                sb.append("  error: ").append(e).append('\n');
            }
        }
        sb.append("  ").append(v.note()).append('\n');
        for (String frame : v.stack()) {
            sb.append("    at ").append(frame).append('\n');
        }
    }

    static String events(VcpuEvents e) {
        if (e.quiet()) {
            return "nothing pending or being injected" + (e.nmiMasked() ? " (NMIs masked)" : "")
                    + (e.interruptShadow() != 0 ? " (interrupt shadow)" : "");
        }
        StringBuilder sb = new StringBuilder();
        if (e.exceptionInjected() || e.exceptionPending()) {
            sb.append(String.format("exception %d %s%s; ", e.exceptionVector(), e.exceptionInjected() ? "injected" : "pending",
                    e.exceptionHasErrorCode() ? " error code " + Integer.toHexString(e.exceptionErrorCode()) : ""));
        }
        if (e.interruptInjected()) {
            sb.append(String.format("interrupt 0x%x injected%s; ", e.interruptVector(), e.interruptSoft() ? " (soft)" : ""));
        }
        if (e.nmiInjected() || e.nmiPending()) {
            sb.append("NMI ").append(e.nmiInjected() ? "injected" : "pending").append(e.nmiMasked() ? " (masked)" : "").append("; ");
        }
        if (e.smiPending()) {
            sb.append("SMI pending; ");
        }
        if (e.latchedInit()) {
            sb.append("INIT latched; ");
        }
        if (e.tripleFaultPending()) {
            sb.append("triple fault pending; ");
        }
        return sb.substring(0, sb.length() - 2);
    }

    private static void irqchip(StringBuilder sb, IrqchipState c) {
        if (c.master() != null && c.slave() != null) {
            sb.append(String.format("pic: master irr=%02x imr=%02x isr=%02x base=0x%x elcr=%02x; slave irr=%02x imr=%02x isr=%02x base=0x%x elcr=%02x%n",
                    c.master().irr(), c.master().imr(), c.master().isr(), c.master().irqBase(), c.master().elcr(),
                    c.slave().irr(), c.slave().imr(), c.slave().isr(), c.slave().irqBase(), c.slave().elcr()));
        }
        if (c.ioapic() != null) {
            sb.append(String.format("ioapic: id=%d irr=%08x; pins unmasked, pending or waiting for EOI:%n", c.ioapic().id(), c.ioapic().irr()));
            for (IrqchipState.Redirection r : c.ioapic().entries()) {
                boolean irr = (c.ioapic().irr() & (1 << r.pin())) != 0;
                if (r.masked() && !r.remoteIrr() && !irr) {
                    continue;
                }
                sb.append(String.format("  pin %2d: vector 0x%02x %s %s %s dest %d%s%s%s%s%n", r.pin(), r.vector(),
                        r.levelTriggered() ? "level" : "edge ", deliveryMode(r.deliveryMode()),
                        r.logicalDestination() ? "logical" : "physical", r.destination(), r.masked() ? " masked" : "",
                        r.remoteIrr() ? " REMOTE_IRR (waiting for EOI)" : "", irr ? " irr" : "",
                        r.deliveryPending() ? " delivery-pending" : ""));
            }
        }
        if (c.pit() != null) {
            sb.append(String.format("pit channel 0: mode %d count %d gate %d flags %x%n", c.pit().mode(),
                    c.pit().count() & 0xffffffffL, c.pit().gate() ? 1 : 0, c.pit().flags()));
        }
        if (c.kvmclock() != null) {
            sb.append(String.format("kvmclock: %d ns, flags %x (%s)%n", c.kvmclock().clockNs(), c.kvmclock().flags(),
                    c.kvmclock().tscStable() ? "master clock, TSC stable" : "no master clock"));
        }
    }

    static String deliveryMode(int m) {
        return switch (m) {
            case 0 -> "fixed";
            case 1 -> "lowest-priority";
            case 2 -> "SMI";
            case 4 -> "NMI";
            case 5 -> "INIT";
            case 7 -> "ExtINT";
            default -> "mode " + m;
        };
    }

    static String hex(List<Integer> vectors) {
        return vectors.stream().map(v -> String.format("0x%02x", v)).collect(Collectors.joining(",", "[", "]"));
    }
}
