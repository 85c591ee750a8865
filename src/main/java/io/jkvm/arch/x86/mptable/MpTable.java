package io.jkvm.arch.x86.mptable;

import io.jkvm.arch.x86.Layout;
import io.jkvm.arch.x86.VirtioMmioWindow;
import io.jkvm.arch.x86.acpi.Madt;
import io.jkvm.device.pci.PciRoot;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * The MP configuration table (Intel MultiProcessor Specification 1.4, chapter 4): what a guest
 * booted with {@code acpi=off} learns its CPUs, its I/O APIC and its interrupt wiring from.
 * Kata's Firecracker guests boot so ({@code acpi=off pci=off}), as do other Firecracker guests:
 * without this table they would see one CPU and only the 8259's sixteen lines, so virtio-mmio
 * devices past GSI 15 and every vCPU but the first would be lost. With ACPI on, Linux takes the
 * MADT and ignores this table (it reads MPS only when ACPI gave no local and I/O APICs).
 *
 * <p>It says what the MADT says ({@link Madt}), in MPS terms: one processor entry per vCPU (APIC
 * ID = index, the first the bootstrap processor), a PCI bus (id 0, the PCI bus number) and an ISA
 * bus (id 1), the I/O APIC (ID {@link Madt#ioApicId}), and an I/O interrupt entry per wired
 * input: ISA IRQ 0 to input 2 (the PIT's pin, as the MADT's override says), the other ISA IRQs to
 * their own input (edge, active-high, the ISA default) except the SCI and the virtio-mmio GSIs,
 * which are level/active-high as their devices drive them; virtio-mmio GSIs from 16 up as ISA
 * sources of that number, as Firecracker's table has them (Linux maps an ISA source to the IRQ of
 * its own number). A PCI VM also gets each slot's INTA-D (source {@code slot << 2 | pin}, §D.3) on
 * the swizzled input the DSDT's _PRT names ({@link Layout#pciIntxGsi}), level/active-low; an mmio
 * VM, whose inputs 16..23 may be virtio-mmio lines, gets none (it has no PCI function). Local
 * interrupts: ExtINT on the bootstrap processor's LINT0, NMI on every LINT1 (the MADT's NMI entry).
 * Entries are in type order, as §4.3 requires.
 */
public final class MpTable {
    private MpTable() {}

    /** The APIC ID is one byte and 0xFF means "all" in local interrupt entries; the MADT's limit is lower still. */
    public static final int MAX_VCPUS = Madt.MAX_VCPUS;

    static final int HEADER_SIZE = 44;
    static final int PROCESSOR_SIZE = 20;
    static final int ENTRY_SIZE = 8;

    static final int TYPE_PROCESSOR = 0;
    static final int TYPE_BUS = 1;
    static final int TYPE_IOAPIC = 2;
    static final int TYPE_IO_INTERRUPT = 3;
    static final int TYPE_LOCAL_INTERRUPT = 4;

    static final int INT = 0;
    static final int NMI = 1;
    static final int EXTINT = 3;

    /** §4.3.4 Table 4-10 flags: polarity bits 1:0, trigger bits 3:2; 0 is "conforms to the bus". */
    static final int CONFORMS = 0x0;
    static final int LEVEL_ACTIVE_HIGH = 0x1 | 0xc;
    static final int LEVEL_ACTIVE_LOW = 0x3 | 0xc;

    static final int PCI_BUS = 0;
    static final int ISA_BUS = 1;

    /** Local APIC version an integrated APIC reports (KVM's: 0x14), and the 82093AA's I/O APIC version. */
    static final int LAPIC_VERSION = 0x14;
    static final int IOAPIC_VERSION = 0x11;
    /** CPU signature family 6 and feature flags FPU (bit 0) and APIC (bit 9): informational only, §4.3.1. */
    static final int CPU_SIGNATURE = 0x600;
    static final int CPU_FEATURES = 0x201;

    /**
     * The configuration table for {@code vcpus} CPUs and the virtio-mmio devices {@code virtioMmio}
     * (empty for a PCI VM), checksummed.
     */
    public static byte[] build(int vcpus, List<VirtioMmioWindow> virtioMmio) {
        if (vcpus < 1 || vcpus > MAX_VCPUS) {
            throw new IllegalArgumentException("vCPU count " + vcpus + " outside 1.." + MAX_VCPUS);
        }
        Set<Integer> levelHigh = new HashSet<>();
        levelHigh.add(Layout.ACPI_SCI_IRQ);
        for (VirtioMmioWindow w : virtioMmio) {
            levelHigh.add(w.gsi());
        }
        boolean pci = virtioMmio.isEmpty();
        int ioApic = Madt.ioApicId(vcpus);

        ByteBuffer e = ByteBuffer.allocate(vcpus * PROCESSOR_SIZE + 4096).order(ByteOrder.LITTLE_ENDIAN);
        int count = 0;
        for (int i = 0; i < vcpus; i++) {
            e.put((byte) TYPE_PROCESSOR).put((byte) i).put((byte) LAPIC_VERSION).put((byte) (i == 0 ? 0x3 : 0x1))
                    .putInt(CPU_SIGNATURE).putInt(CPU_FEATURES).putLong(0);
            count++;
        }
        e.put((byte) TYPE_BUS).put((byte) PCI_BUS).put("PCI   ".getBytes(StandardCharsets.US_ASCII));
        e.put((byte) TYPE_BUS).put((byte) ISA_BUS).put("ISA   ".getBytes(StandardCharsets.US_ASCII));
        count += 2;
        e.put((byte) TYPE_IOAPIC).put((byte) ioApic).put((byte) IOAPIC_VERSION).put((byte) 1).putInt((int) Layout.IOAPIC_BASE);
        count++;
        for (int irq = 0; irq < 16; irq++) {
            if (irq == 2) {
                continue; // the 8259 cascade: no device source
            }
            int pin = irq == 0 ? 2 : irq;
            count += ioInterrupt(e, levelHigh.contains(irq) ? LEVEL_ACTIVE_HIGH : CONFORMS, ISA_BUS, irq, ioApic, pin);
        }
        for (VirtioMmioWindow w : virtioMmio) {
            if (w.gsi() >= 16) {
                count += ioInterrupt(e, LEVEL_ACTIVE_HIGH, ISA_BUS, w.gsi(), ioApic, w.gsi());
            }
        }
        if (pci) {
            for (int slot = 0; slot < PciRoot.SLOTS; slot++) {
                for (int pin = 0; pin < 4; pin++) {
                    count += ioInterrupt(e, LEVEL_ACTIVE_LOW, PCI_BUS, slot << 2 | pin, ioApic, Layout.pciIntxGsi(slot, pin));
                }
            }
        }
        e.put((byte) TYPE_LOCAL_INTERRUPT).put((byte) EXTINT).putShort((short) CONFORMS).put((byte) ISA_BUS).put((byte) 0)
                .put((byte) 0).put((byte) 0);
        e.put((byte) TYPE_LOCAL_INTERRUPT).put((byte) NMI).putShort((short) CONFORMS).put((byte) ISA_BUS).put((byte) 0)
                .put((byte) 0xff).put((byte) 1);
        count += 2;

        int length = HEADER_SIZE + e.position();
        ByteBuffer t = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        t.put("PCMP".getBytes(StandardCharsets.US_ASCII)).putShort((short) length).put((byte) 4).put((byte) 0);
        t.put("JKVM    ".getBytes(StandardCharsets.US_ASCII)).put("JKVM VM     ".getBytes(StandardCharsets.US_ASCII));
        t.putInt(0).putShort((short) 0).putShort((short) count).putInt((int) Layout.LAPIC_BASE);
        t.putShort((short) 0).put((byte) 0).put((byte) 0);
        t.put(e.array(), 0, e.position());
        byte[] out = t.array();
        out[7] = checksum(out, 0, out.length);
        return out;
    }

    private static int ioInterrupt(ByteBuffer e, int flags, int bus, int source, int ioApic, int pin) {
        e.put((byte) TYPE_IO_INTERRUPT).put((byte) INT).putShort((short) flags).put((byte) bus).put((byte) source)
                .put((byte) ioApic).put((byte) pin);
        return 1;
    }

    /** The byte that makes {@code data[off, off+len)} sum to zero mod 256 (§4.1, §4.2), given its own place holds 0. */
    static byte checksum(byte[] data, int off, int len) {
        int sum = 0;
        for (int i = off; i < off + len; i++) {
            sum += data[i] & 0xff;
        }
        return (byte) -sum;
    }
}
