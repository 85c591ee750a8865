package io.jkvm.arch.x86.acpi;

import io.jkvm.arch.x86.Layout;
import io.jkvm.arch.x86.VirtioMmioSlots;
import io.jkvm.arch.x86.VirtioMmioWindow;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * Differentiated System Description Table (ACPI 6.4 §5.2.11.1) in hand-encoded AML:
 * <ul>
 *   <li>{@code \_S5_}: soft-off sleep type (§7.4.2) for the hardware-reduced sleep control register;
 *   <li>{@code \_SB_.PCI0}: the PCI host bridge (PNP0A03, §6.1.5 _HID) with segment 0, bus 0,
 *       config mechanism #1 ports, the I/O ranges on either side of them, the 32-bit MMIO window,
 *       and a _PRT (§6.2.13) routing every slot's INTA-D straight to I/O APIC GSIs with
 *       {@link Layout#pciIntxGsi};
 *   <li>{@code \_SB_.COM1}: the 16550 UART (PNP0501) at 0x3F8, IRQ 4;
 *   <li>{@code \_SB_.PS2K}: the i8042 keyboard controller (PNP0303) at 0x60/0x64, IRQ 1;
 *   <li>{@code \_SB_.RTC_}: the CMOS real-time clock (PNP0B00) at 0x70, IRQ 8;
 *   <li>{@code \_SB_.VR00}..{@code VR0F}: the VM's virtio-mmio devices, if it has any
 *       ({@link #virtioMmio}).
 * </ul>
 * Hardware-reduced ACPI has no legacy PIC, so Linux maps no ISA IRQs by itself: a legacy device
 * that is not described here gets no interrupt (its driver's probe fails with -EINVAL).
 */
public final class Dsdt {
    private Dsdt() {}

    /** Revision 2 makes AML integers 64-bit (§5.2.11.1). */
    public static final int REVISION = 2;

    /** The DSDT of a VM without virtio-mmio devices (a PCI VM). */
    public static byte[] build() {
        return build(List.of());
    }

    /** The DSDT of a VM whose virtio-mmio devices are {@code virtioMmio}, in attach order (empty for PCI). */
    public static byte[] build(List<VirtioMmioWindow> virtioMmio) {
        List<byte[]> sb = new ArrayList<>(List.of(pciRoot(), com1(), keyboardController(), rtc()));
        for (int i = 0; i < virtioMmio.size(); i++) {
            sb.add(virtioMmio(i, virtioMmio.get(i)));
        }
        byte[] aml = Aml.concat(
                Aml.name("\\_S5_", Aml.pkg(Aml.integer(Layout.ACPI_S5_SLP_TYP), Aml.ZERO, Aml.ZERO, Aml.ZERO)),
                Aml.scope("\\_SB_", sb.toArray(byte[][]::new)));
        ByteBuffer b = AcpiTable.start("DSDT", AcpiTable.HEADER_SIZE + aml.length, REVISION);
        b.put(aml);
        return AcpiTable.finish(b);
    }

    static byte[] pciRoot() {
        byte[] crs = AmlResources.template(
                AmlResources.wordBusNumber(0, 0),
                AmlResources.io(Layout.PCI_CONFIG_PORT, Layout.PCI_CONFIG_PORT, 1, 8),
                AmlResources.wordIo(0x0000, Layout.PCI_CONFIG_PORT - 1),
                AmlResources.wordIo(0x0d00, 0xffff),
                AmlResources.dwordMemoryNonCacheable(Layout.PCI_MMIO32_START, Layout.PCI_MMIO32_END - 1));
        return Aml.device("PCI0",
                Aml.name("_HID", Aml.eisaId("PNP0A03")),
                Aml.name("_UID", Aml.ZERO),
                Aml.name("_SEG", Aml.ZERO),
                Aml.name("_BBN", Aml.ZERO),
                Aml.name("_CRS", crs),
                Aml.name("_PRT", prt()));
    }

    /**
     * _PRT entries {address 0xSSSSFFFF (any function of slot S), pin 0-3, source Zero (so the
     * last field is a GSI), GSI} for slots 1..31; slot 0 is the host bridge itself.
     */
    static byte[] prt() {
        List<byte[]> entries = new ArrayList<>();
        for (int slot = 1; slot <= 31; slot++) {
            for (int pin = 0; pin < 4; pin++) {
                entries.add(Aml.pkg(
                        Aml.integer(((long) slot << 16) | 0xffff),
                        Aml.integer(pin),
                        Aml.ZERO,
                        Aml.integer(Layout.pciIntxGsi(slot, pin))));
            }
        }
        return Aml.pkg(entries.toArray(byte[][]::new));
    }

    static byte[] keyboardController() {
        return Aml.device("PS2K",
                Aml.name("_HID", Aml.eisaId("PNP0303")),
                Aml.name("_CRS", AmlResources.template(
                        AmlResources.io(Layout.I8042_PORT, Layout.I8042_PORT, 1, 1),
                        AmlResources.io(Layout.I8042_PORT + 4, Layout.I8042_PORT + 4, 1, 1),
                        AmlResources.irqNoFlags(1))));
    }

    static byte[] rtc() {
        return Aml.device("RTC_",
                Aml.name("_HID", Aml.eisaId("PNP0B00")),
                Aml.name("_CRS", AmlResources.template(
                        AmlResources.io(Layout.RTC_PORT, Layout.RTC_PORT, 1, 2),
                        AmlResources.irqNoFlags(8))));
    }

    static byte[] com1() {
        return Aml.device("COM1",
                Aml.name("_HID", Aml.eisaId("PNP0501")),
                Aml.name("_UID", Aml.ONE),
                Aml.name("_CRS", AmlResources.template(
                        AmlResources.io(Layout.COM1_PORT, Layout.COM1_PORT, 1, 8),
                        AmlResources.irqNoFlags(Layout.COM1_IRQ))));
    }

    /**
     * Virtio-mmio device {@code index}: Linux's virtio_mmio driver matches the ACPI _HID
     * "LNRO0005" (a string _HID: it is not an EISA-compressible PNP id) and takes the register
     * window and the interrupt from _CRS, the way stock distribution kernels find these devices
     * (they are built without CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES). _UID tells devices of the same
     * _HID apart (§6.1.12). Devices are listed in attach order, so a kernel enumerating the
     * namespace in order meets the first disk first, as with the command-line declarations.
     *
     * <p>The interrupt is an Extended Interrupt descriptor rather than IRQNoFlags: the device
     * drives a level line (high while InterruptStatus is non-zero, virtio 1.2 §4.2.2), and only
     * the extended form can say level-triggered active-high; Linux applies a _CRS Extended
     * Interrupt's trigger and polarity as given (it consults the MADT overrides only for the
     * legacy IRQ descriptors). {@link Madt} also overrides these ISA-range GSIs to
     * level/active-high so both tables agree.
     */
    static byte[] virtioMmio(int index, VirtioMmioWindow w) {
        if (index < 0 || index > 0xff) {
            throw new IllegalArgumentException("virtio-mmio device index " + index + " does not fit VRxx");
        }
        return Aml.device(String.format("VR%02X", index),
                Aml.name("_HID", Aml.string("LNRO0005")),
                Aml.name("_UID", Aml.integer(index)),
                Aml.name("_CRS", AmlResources.template(
                        AmlResources.memory32Fixed(true, w.base(), VirtioMmioSlots.WINDOW),
                        AmlResources.interruptLevelHighExclusive(w.gsi()))));
    }
}
