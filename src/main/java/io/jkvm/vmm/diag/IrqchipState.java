package io.jkvm.vmm.diag;

import io.jkvm.kvm.KvmStructs;
import io.jkvm.kvm.StructBuffer;

import java.util.ArrayList;
import java.util.List;

/**
 * The in-kernel PICs and IOAPIC as KVM_GET_IRQCHIP returns them (struct kvm_irqchip, asm/kvm.h:
 * chip_id u32, pad u32, then struct kvm_pic_state or struct kvm_ioapic_state), plus the PIT's
 * channel 0 and kvmclock. A level-triggered IOAPIC pin whose remote IRR stays set is waiting for
 * an EOI that never came: nothing more is delivered from it (82093AA datasheet, 3.2.4).
 */
public record IrqchipState(Pic master, Pic slave, Ioapic ioapic, Pit pit, Kvmclock kvmclock) {

    /** struct kvm_pic_state (8259A: IRR, IMR, ISR; ELCR is the PIIX edge/level register). */
    public record Pic(int irr, int imr, int isr, int irqBase, int elcr, boolean autoEoi) {
        static final int OFFSET = 8; // after chip_id and pad

        public static Pic decode(byte[] chip) {
            requireChip(chip);
            StructBuffer b = new StructBuffer(chip);
            int o = OFFSET;
            return new Pic(b.u8(o + 1), b.u8(o + 2), b.u8(o + 3), b.u8(o + 5), b.u8(o + 14), b.u8(o + 10) != 0);
        }
    }

    /** One redirection table entry (82093AA datasheet, 3.2.4), decoded from its 64 bits. */
    public record Redirection(int pin, long bits) {
        public int vector() {
            return (int) (bits & 0xff);
        }

        /** 0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT. */
        public int deliveryMode() {
            return (int) (bits >>> 8) & 7;
        }

        public boolean logicalDestination() {
            return (bits & (1L << 11)) != 0;
        }

        public boolean deliveryPending() {
            return (bits & (1L << 12)) != 0;
        }

        public boolean activeLow() {
            return (bits & (1L << 13)) != 0;
        }

        public boolean remoteIrr() {
            return (bits & (1L << 14)) != 0;
        }

        public boolean levelTriggered() {
            return (bits & (1L << 15)) != 0;
        }

        public boolean masked() {
            return (bits & (1L << 16)) != 0;
        }

        public int destination() {
            return (int) (bits >>> 56) & 0xff;
        }
    }

    /** struct kvm_ioapic_state: base_address u64, ioregsel u32, id u32, irr u32, pad, redirtbl[24]. */
    public record Ioapic(int id, int irr, List<Redirection> entries) {
        static final int OFFSET = 8;
        public static final int PINS = 24;

        public Ioapic {
            entries = List.copyOf(entries);
        }

        public static Ioapic decode(byte[] chip) {
            requireChip(chip);
            StructBuffer b = new StructBuffer(chip);
            int o = OFFSET;
            List<Redirection> entries = new ArrayList<>();
            for (int pin = 0; pin < PINS; pin++) {
                entries.add(new Redirection(pin, b.u64(o + 24 + 8 * pin)));
            }
            return new Ioapic(b.u32(o + 12), b.u32(o + 16), entries);
        }
    }

    /** Channel 0 of struct kvm_pit_state2 (kvm_pit_channel_state: count u32 ... mode u8 at 13, gate u8 at 15). */
    public record Pit(int count, int mode, boolean gate, int flags) {
        public static Pit decode(byte[] state) {
            if (state.length != KvmStructs.PIT_STATE2_SIZE) {
                throw new IllegalArgumentException("kvm_pit_state2 must be " + KvmStructs.PIT_STATE2_SIZE + " bytes");
            }
            StructBuffer b = new StructBuffer(state);
            return new Pit(b.u32(0), b.u8(13), b.u8(15) != 0, b.u32(72));
        }
    }

    /**
     * struct kvm_clock_data: the VM's kvmclock in ns and its flags; KVM_CLOCK_TSC_STABLE (2) means
     * KVM uses a master clock (every vCPU's kvmclock derives from one TSC reading).
     */
    public record Kvmclock(long clockNs, int flags) {
        public static Kvmclock decode(byte[] data) {
            if (data.length != KvmStructs.CLOCK_DATA_SIZE) {
                throw new IllegalArgumentException("kvm_clock_data must be " + KvmStructs.CLOCK_DATA_SIZE + " bytes");
            }
            StructBuffer b = new StructBuffer(data);
            return new Kvmclock(b.u64(0), b.u32(8));
        }

        public boolean tscStable() {
            return (flags & 2) != 0;
        }
    }

    private static void requireChip(byte[] chip) {
        if (chip.length != KvmStructs.IRQCHIP_SIZE) {
            throw new IllegalArgumentException("kvm_irqchip must be " + KvmStructs.IRQCHIP_SIZE + " bytes, got " + chip.length);
        }
    }
}
