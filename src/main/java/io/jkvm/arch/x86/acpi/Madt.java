package io.jkvm.arch.x86.acpi;

import io.jkvm.arch.x86.Layout;
import io.jkvm.arch.x86.VirtioMmioWindow;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Multiple APIC Description Table (ACPI 6.4 §5.2.12, Table 5.43) describing KVM's in-kernel
 * interrupt controllers: one Local APIC per vCPU (APIC ID = vCPU index), one I/O APIC with GSIs
 * from 0, the PC-standard override of ISA IRQ 0 to GSI 2 (the PIT is wired to I/O APIC pin 2, as
 * on real PCs and in KVM's in-kernel routing), the SCI override, an identity override per
 * virtio-mmio device making its GSI level-triggered, and LINT1 as NMI on all CPUs.
 */
public final class Madt {
    private Madt() {}

    public static final int REVISION = 5;
    /** Flags bit 0 (Table 5.44): the system also has dual 8259 PICs. */
    public static final int PCAT_COMPAT = 1;
    public static final int TYPE_LOCAL_APIC = 0;
    public static final int TYPE_IO_APIC = 1;
    public static final int TYPE_INTERRUPT_OVERRIDE = 2;
    public static final int TYPE_LOCAL_APIC_NMI = 4;
    /** xAPIC IDs are 8 bits and 0xFF is broadcast; the I/O APIC takes the ID after the last CPU. */
    public static final int MAX_VCPUS = 254;
    /** MPS INTI flags (Table 5.50): active high, level triggered. */
    public static final int INTI_ACTIVE_HIGH_LEVEL = 0x1 | 0xc;
    /** ISA IRQs 0..15: the only sources an Interrupt Source Override on bus 0 can name. */
    static final int ISA_IRQS = 16;

    /** The I/O APIC's ID: one past the last vCPU's APIC ID so the two never clash. */
    public static int ioApicId(int vcpus) {
        return vcpus;
    }

    /** The MADT of a VM without virtio-mmio devices (a PCI VM). */
    public static byte[] build(int vcpus) {
        return build(vcpus, List.of());
    }

    /** The MADT of a VM with {@code vcpus} CPUs and the virtio-mmio devices {@code virtioMmio} (empty for PCI). */
    public static byte[] build(int vcpus, List<VirtioMmioWindow> virtioMmio) {
        if (vcpus < 1 || vcpus > MAX_VCPUS) {
            throw new IllegalArgumentException("vCPU count " + vcpus + " outside 1.." + MAX_VCPUS);
        }
        List<Integer> isaGsis = new ArrayList<>();
        for (VirtioMmioWindow w : virtioMmio) {
            if (w.gsi() == 0 || w.gsi() == 2 || w.gsi() == Layout.ACPI_SCI_IRQ) {
                throw new IllegalArgumentException("virtio-mmio GSI " + w.gsi() + " is the timer's or the SCI's");
            }
            if (w.gsi() < ISA_IRQS) {
                isaGsis.add(w.gsi());
            }
        }
        int length = AcpiTable.HEADER_SIZE + 8 + 8 * vcpus + 12 + 10 + 10 + 10 * isaGsis.size() + 6;
        ByteBuffer b = AcpiTable.start("APIC", length, REVISION);
        b.putInt((int) Layout.LAPIC_BASE);
        b.putInt(PCAT_COMPAT);
        for (int i = 0; i < vcpus; i++) {
            // Processor Local APIC (Table 5.46): UID, APIC ID, flags bit 0 = Enabled.
            b.put((byte) TYPE_LOCAL_APIC).put((byte) 8).put((byte) i).put((byte) i).putInt(1);
        }
        // I/O APIC (Table 5.48): ID, reserved, address, GSI base.
        b.put((byte) TYPE_IO_APIC).put((byte) 12).put((byte) ioApicId(vcpus)).put((byte) 0)
                .putInt((int) Layout.IOAPIC_BASE).putInt(0);
        // Interrupt Source Overrides (Table 5.49): bus 0 (ISA), source IRQ, GSI, flags.
        b.put((byte) TYPE_INTERRUPT_OVERRIDE).put((byte) 10).put((byte) 0).put((byte) 0).putInt(2).putShort((short) 0);
        b.put((byte) TYPE_INTERRUPT_OVERRIDE).put((byte) 10).put((byte) 0).put((byte) Layout.ACPI_SCI_IRQ)
                .putInt(Layout.ACPI_SCI_IRQ).putShort((short) INTI_ACTIVE_HIGH_LEVEL);
        // The virtio-mmio GSIs are ISA-range I/O APIC inputs, which without an override are taken
        // as ISA IRQ n on input n, edge-triggered and active-high (§5.2.12.5). Their devices drive a
        // level line (what the DSDT's _CRS says), so override each to itself as level/active-high:
        // an OS that configures ISA inputs from the MADT alone (e.g. for a device it found on the
        // kernel command line rather than in the DSDT) then programs the same mode as _CRS asks.
        // Inputs from 16 up are no ISA IRQ's and have no default to override.
        for (int gsi : isaGsis) {
            b.put((byte) TYPE_INTERRUPT_OVERRIDE).put((byte) 10).put((byte) 0).put((byte) gsi)
                    .putInt(gsi).putShort((short) INTI_ACTIVE_HIGH_LEVEL);
        }
        // Local APIC NMI (Table 5.52): all processors (UID 0xFF), flags 0 (bus default), LINT1.
        b.put((byte) TYPE_LOCAL_APIC_NMI).put((byte) 6).put((byte) 0xff).putShort((short) 0).put((byte) 1);
        return AcpiTable.finish(b);
    }
}
