package io.jkvm.vmm.diag;

import io.jkvm.kvm.KvmStructs;
import io.jkvm.kvm.StructBuffer;

import java.util.ArrayList;
import java.util.List;

/**
 * The local APIC registers a person needs to see why a vCPU gets no interrupt, decoded from
 * struct kvm_lapic_state (KVM_GET_LAPIC: the first 1 KiB of the APIC page, register offsets as in
 * Intel SDM Vol. 3A, Table 11-1 "Local APIC Register Address Map"; KVM computes TMCCT on read).
 *
 * @param id APIC ID register as KVM returns it (xAPIC: ID in bits 31:24; x2APIC: the whole register)
 * @param tpr task priority; {@code ppr} processor priority: vectors at or below PPR's class are held back
 * @param svr spurious-interrupt vector register; bit 8 = APIC software-enabled
 * @param isr vectors in service (delivered, not yet EOI'd), lowest first
 * @param irr vectors requested (waiting for delivery), lowest first
 * @param tmr vectors accepted as level-triggered (their EOI is broadcast to the IOAPIC)
 * @param icrLow interrupt command register (last IPI sent), low and high halves
 * @param lvtTimer LVT timer: vector, mask (bit 16), mode (bits 18:17: one-shot, periodic, TSC-deadline)
 * @param tmict initial count, {@code tmcct} current count, {@code tdcr} divide configuration
 */
public record LapicState(int id, int version, int tpr, int ppr, int svr, int esr, int ldr,
        List<Integer> isr, List<Integer> irr, List<Integer> tmr, int icrLow, int icrHigh,
        int lvtTimer, int lvtLint0, int lvtLint1, int lvtError, int tmict, int tmcct, int tdcr) {

    static final int ID = 0x20, VERSION = 0x30, TPR = 0x80, PPR = 0xa0, LDR = 0xd0, SVR = 0xf0;
    static final int ISR = 0x100, TMR = 0x180, IRR = 0x200, ESR = 0x280, ICR_LOW = 0x300, ICR_HIGH = 0x310;
    static final int LVT_TIMER = 0x320, LVT_LINT0 = 0x350, LVT_LINT1 = 0x360, LVT_ERROR = 0x370;
    static final int TMICT = 0x380, TMCCT = 0x390, TDCR = 0x3e0;

    public static final int LVT_MASKED = 1 << 16;
    public static final int SVR_ENABLED = 1 << 8;

    public LapicState {
        isr = List.copyOf(isr);
        irr = List.copyOf(irr);
        tmr = List.copyOf(tmr);
    }

    /** Decodes a KVM_GET_LAPIC buffer ({@link KvmStructs#LAPIC_SIZE} bytes). */
    public static LapicState decode(byte[] regs) {
        if (regs.length != KvmStructs.LAPIC_SIZE) {
            throw new IllegalArgumentException("kvm_lapic_state must be " + KvmStructs.LAPIC_SIZE + " bytes, got " + regs.length);
        }
        StructBuffer b = new StructBuffer(regs);
        return new LapicState(b.u32(ID), b.u32(VERSION), b.u32(TPR), b.u32(PPR), b.u32(SVR), b.u32(ESR), b.u32(LDR),
                vectors(b, ISR), vectors(b, IRR), vectors(b, TMR), b.u32(ICR_LOW), b.u32(ICR_HIGH),
                b.u32(LVT_TIMER), b.u32(LVT_LINT0), b.u32(LVT_LINT1), b.u32(LVT_ERROR),
                b.u32(TMICT), b.u32(TMCCT), b.u32(TDCR));
    }

    /** A 256-bit vector register: eight 32-bit registers 16 bytes apart (SDM 11.8.4). */
    static List<Integer> vectors(StructBuffer b, int base) {
        List<Integer> out = new ArrayList<>();
        for (int word = 0; word < 8; word++) {
            int bits = b.u32(base + word * 0x10);
            for (int bit = 0; bit < 32; bit++) {
                if ((bits & (1 << bit)) != 0) {
                    out.add(word * 32 + bit);
                }
            }
        }
        return out;
    }

    public boolean softwareEnabled() {
        return (svr & SVR_ENABLED) != 0;
    }

    /** LVT timer mode, SDM 11.5.4: bits 18:17. */
    public String timerMode() {
        if ((lvtTimer & LVT_MASKED) != 0) {
            return "masked";
        }
        return switch ((lvtTimer >>> 17) & 3) {
            case 0 -> "one-shot";
            case 1 -> "periodic";
            case 2 -> "tsc-deadline";
            default -> "reserved";
        };
    }

    public int timerVector() {
        return lvtTimer & 0xff;
    }
}
