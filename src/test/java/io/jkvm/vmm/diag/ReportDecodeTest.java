package io.jkvm.vmm.diag;

import io.jkvm.kvm.KvmStructs;
import io.jkvm.kvm.StructBuffer;
import org.junit.jupiter.api.Test;

import java.time.Instant;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The vCPU report's decoders and renderings, on hand-made KVM structures (no KVM needed). */
class ReportDecodeTest {

    @Test
    void lapicVectorRegistersTimerAndPrioritiesAreDecoded() {
        StructBuffer b = new StructBuffer(KvmStructs.LAPIC_SIZE);
        b.u32(LapicState.ID, 1 << 24);
        b.u32(LapicState.TPR, 0x20);
        b.u32(LapicState.PPR, 0x30);
        b.u32(LapicState.SVR, 0x1ff);
        b.u32(LapicState.ISR + 0x30, 1 << 16);         // vector 0x70 in service
        b.u32(LapicState.ISR + 0x70, 1 << 31);         // vector 0xff
        b.u32(LapicState.IRR + 0x20, 1 << 16);         // vector 0x50 requested
        b.u32(LapicState.TMR + 0x20, 1 << 16);         // ... level-triggered
        b.u32(LapicState.LVT_TIMER, (2 << 17) | 0xec); // TSC-deadline, vector 0xec
        b.u32(LapicState.TMCCT, 1234);
        LapicState l = LapicState.decode(b.bytes());
        assertThat(l.id()).isEqualTo(1 << 24);
        assertThat(l.isr()).containsExactly(0x70, 0xff);
        assertThat(l.irr()).containsExactly(0x50);
        assertThat(l.tmr()).containsExactly(0x50);
        assertThat(l.tpr()).isEqualTo(0x20);
        assertThat(l.ppr()).isEqualTo(0x30);
        assertThat(l.softwareEnabled()).isTrue();
        assertThat(l.timerMode()).isEqualTo("tsc-deadline");
        assertThat(l.timerVector()).isEqualTo(0xec);
        assertThat(l.tmcct()).isEqualTo(1234);

        b.u32(LapicState.LVT_TIMER, LapicState.LVT_MASKED | (1 << 17) | 0xec);
        assertThat(LapicState.decode(b.bytes()).timerMode()).isEqualTo("masked");
        assertThatThrownBy(() -> LapicState.decode(new byte[100])).hasMessageContaining("kvm_lapic_state must be 1024 bytes");
    }

    @Test
    void vcpuEventsNameWhatIsPendingOrInjected() {
        StructBuffer b = new StructBuffer(KvmStructs.VCPU_EVENTS_SIZE);
        assertThat(VcpuEvents.decode(b.bytes()).quiet()).isTrue();
        b.u8(VcpuEvents.EXCEPTION, 1);       // injected
        b.u8(VcpuEvents.EXCEPTION + 1, 14);  // #PF
        b.u8(VcpuEvents.EXCEPTION + 2, 1);   // has error code
        b.u32(VcpuEvents.EXCEPTION + 4, 2);
        b.u8(VcpuEvents.NMI + 1, 1);         // NMI pending
        b.u8(VcpuEvents.NMI + 2, 1);         // masked
        VcpuEvents e = VcpuEvents.decode(b.bytes());
        assertThat(e.quiet()).isFalse();
        assertThat(e.exceptionVector()).isEqualTo(14);
        assertThat(e.nmiPending()).isTrue();
        assertThat(ReportText.events(e)).isEqualTo("exception 14 injected error code 2; NMI pending (masked)");
        assertThatThrownBy(() -> VcpuEvents.decode(new byte[8])).hasMessageContaining("kvm_vcpu_events");
    }

    @Test
    void ioapicEntriesAndPicRegistersAreDecodedAndStuckLevelPinsStandOut() {
        StructBuffer io = new StructBuffer(KvmStructs.IRQCHIP_SIZE);
        io.u32(0, 2); // chip_id IOAPIC
        int table = IrqchipState.Ioapic.OFFSET + 24;
        for (int pin = 0; pin < IrqchipState.Ioapic.PINS; pin++) {
            io.u64(table + 8 * pin, 1L << 16); // masked
        }
        io.u64(table + 8 * 4, 0x31);                                      // pin 4: edge, vector 0x31
        io.u64(table + 8 * 11, (1L << 56) | (1L << 15) | (1L << 14) | (1L << 13) | 0x41); // level, remote IRR, low, dest 1
        io.u32(IrqchipState.Ioapic.OFFSET + 16, 1 << 11);                 // irr: pin 11 asserted
        IrqchipState.Ioapic a = IrqchipState.Ioapic.decode(io.bytes());
        IrqchipState.Redirection level = a.entries().get(11);
        assertThat(level.levelTriggered()).isTrue();
        assertThat(level.remoteIrr()).isTrue();
        assertThat(level.activeLow()).isTrue();
        assertThat(level.masked()).isFalse();
        assertThat(level.destination()).isEqualTo(1);
        assertThat(level.vector()).isEqualTo(0x41);
        assertThat(a.entries().get(4).levelTriggered()).isFalse();

        StructBuffer pic = new StructBuffer(KvmStructs.IRQCHIP_SIZE);
        int o = IrqchipState.Pic.OFFSET;
        pic.u8(o + 1, 0x10); // irr
        pic.u8(o + 2, 0xfb); // imr
        pic.u8(o + 5, 0x30); // irq base
        pic.u8(o + 14, 0x0c); // elcr
        IrqchipState.Pic p = IrqchipState.Pic.decode(pic.bytes());
        assertThat(p).isEqualTo(new IrqchipState.Pic(0x10, 0xfb, 0, 0x30, 0x0c, false));

        String text = ReportText.render(new MachineReport(Instant.EPOCH, "running", List.of(),
                new IrqchipState(p, p, a, null, new IrqchipState.Kvmclock(5, 0)), List.of()));
        assertThat(text).contains("pin  4: vector 0x31 edge  fixed physical dest 0")
                .contains("pin 11: vector 0x41 level fixed physical dest 1 REMOTE_IRR (waiting for EOI) irr")
                .doesNotContain("pin  5").contains("no master clock");
        assertThatThrownBy(() -> IrqchipState.Ioapic.decode(new byte[3])).hasMessageContaining("kvm_irqchip");
    }

    @Test
    void aStuckVcpuIsRenderedWithItsStackAndRegistersAreHexStringsInJson() {
        VcpuState.Registers regs = new VcpuState.Registers(0xffffffff81000000L, 0x7000, 0x246, 0, 0x80050033L, 0, 0x1000,
                0x3506f0, 0xd01, 0xfee00d00L, 0x10, 0);
        VcpuState state = new VcpuState(VcpuState.MP_HALTED, regs, null, null, Map.of("tsc", 100L, "tsc_deadline", 150L), 0, List.of());
        MachineReport r = new MachineReport(Instant.EPOCH, "running", List.of(
                new VcpuReport(0, "in-kvm-run", "HLT", 7, Map.of("IO", 5L, "INTR", 2L), state, "read on its thread 1 ms after the request", null),
                new VcpuReport(1, "handling-exit", "IO out port 0x3f8 size 1 count 1", 3, Map.of("IO", 3L), null,
                        "did not answer within 5000 ms", List.of("java.io.FileOutputStream.write(Native Method)"))),
                null, List.of());
        String text = ReportText.render(r);
        assertThat(text).contains("vcpu 0: in-kvm-run, mp_state halted; last exit HLT; exits 7 (IO 5, INTR 2)")
                .contains("rip=ffffffff81000000").contains("(IF=1)").contains("(x2APIC)")
                .contains("(deadline in 50 TSC cycles)")
                .contains("vcpu 1: handling-exit; last exit IO out port 0x3f8 size 1 count 1")
                .contains("    at java.io.FileOutputStream.write(Native Method)");
        Map<String, Object> json = ReportJson.of(r);
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> vcpus = (List<Map<String, Object>>) json.get("vcpus");
        @SuppressWarnings("unchecked")
        Map<String, Object> g = (Map<String, Object>) vcpus.get(0).get("registers");
        assertThat(g).containsEntry("rip", "0xffffffff81000000").containsEntry("interrupts_enabled", true);
        assertThat(vcpus.get(1)).containsEntry("stack", List.of("java.io.FileOutputStream.write(Native Method)"))
                .doesNotContainKey("registers");
    }
}
