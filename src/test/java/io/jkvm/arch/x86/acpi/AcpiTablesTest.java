package io.jkvm.arch.x86.acpi;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jkvm.arch.x86.Layout;
import io.jkvm.arch.x86.TestMemory;
import io.jkvm.arch.x86.VirtioMmioSlots;
import io.jkvm.arch.x86.VirtioMmioWindow;
import io.jkvm.memory.GuestMemory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class AcpiTablesTest {
    private static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static String sig(byte[] t) {
        return new String(t, 0, 4);
    }

    private static byte[] table(GuestMemory mem, long at) {
        int len = mem.readInt(at + 4);
        return mem.read(at, len);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 4, 64, Madt.MAX_VCPUS})
    void everyTableChecksumsAndLinksUp(int vcpus) {
        GuestMemory mem = TestMemory.flat(2L << 20);
        AcpiTables.Written w = AcpiTables.write(mem, vcpus);
        assertThat(w.rsdp()).isEqualTo(Layout.ACPI_START);
        assertThat(w.end()).isLessThanOrEqualTo(Layout.ACPI_END);

        byte[] rsdp = mem.read(w.rsdp(), Rsdp.SIZE);
        assertThat(new String(rsdp, 0, 8)).isEqualTo("RSD PTR ");
        assertThat(AcpiTable.sum(rsdp, 0, 20)).isZero();
        assertThat(AcpiTable.sum(rsdp, 0, 36)).isZero();
        assertThat(rsdp[15]).isEqualTo((byte) 2);
        assertThat(le(rsdp).getInt(16)).isZero();
        assertThat(le(rsdp).getInt(20)).isEqualTo(36);
        assertThat(le(rsdp).getLong(24)).isEqualTo(w.xsdt());

        byte[] xsdt = table(mem, w.xsdt());
        assertThat(sig(xsdt)).isEqualTo("XSDT");
        assertThat(AcpiTable.sum(xsdt, 0, xsdt.length)).isZero();
        List<String> listed = new ArrayList<>();
        for (int off = 36; off < xsdt.length; off += 8) {
            byte[] t = table(mem, le(xsdt).getLong(off));
            assertThat(AcpiTable.sum(t, 0, t.length)).as(sig(t)).isZero();
            listed.add(sig(t));
        }
        assertThat(listed).containsExactly("FACP", "APIC");

        byte[] fadt = table(mem, w.fadt());
        assertThat(fadt).hasSize(276);
        long dsdt = le(fadt).getLong(Fadt.OFF_X_DSDT);
        assertThat(dsdt).isEqualTo(w.dsdt());
        assertThat(le(fadt).getInt(Fadt.OFF_DSDT)).isEqualTo((int) dsdt);
        byte[] dsdtBytes = table(mem, dsdt);
        assertThat(sig(dsdtBytes)).isEqualTo("DSDT");
        assertThat(AcpiTable.sum(dsdtBytes, 0, dsdtBytes.length)).isZero();
        // tables do not overlap
        assertThat(w.xsdt()).isGreaterThanOrEqualTo(w.rsdp() + 36);
        assertThat(w.fadt()).isGreaterThanOrEqualTo(w.xsdt() + xsdt.length);
        assertThat(w.madt()).isGreaterThanOrEqualTo(w.fadt() + 276);
        assertThat(w.dsdt()).isGreaterThanOrEqualTo(w.madt() + mem.readInt(w.madt() + 4));
    }

    @Test
    void fadtDescribesHardwareReducedAcpi() {
        ByteBuffer f = le(Fadt.build(0xe1000));
        assertThat(f.get(8)).isEqualTo((byte) 6);
        assertThat(f.get(Fadt.OFF_MINOR_REVISION)).isEqualTo((byte) 4);
        int flags = f.getInt(Fadt.OFF_FLAGS);
        assertThat(flags & (1 << 20)).isNotZero();
        assertThat(flags & (1 << 10)).isNotZero();
        assertThat(f.getShort(Fadt.OFF_IAPC_BOOT_ARCH)).isEqualTo((short) 0x2);
        assertThat(f.getShort(Fadt.OFF_SCI_INT)).isEqualTo((short) Layout.ACPI_SCI_IRQ);
        assertGas(f, Fadt.OFF_RESET_REG, Layout.ACPI_RESET_PORT);
        assertThat(f.get(Fadt.OFF_RESET_VALUE)).isEqualTo((byte) Layout.ACPI_RESET_VALUE);
        assertGas(f, Fadt.OFF_SLEEP_CONTROL_REG, Layout.ACPI_SLEEP_CONTROL_PORT);
        assertGas(f, Fadt.OFF_SLEEP_STATUS_REG, Layout.ACPI_SLEEP_STATUS_PORT);
        assertThat(new String(f.array(), Fadt.OFF_HYPERVISOR_VENDOR, 4)).isEqualTo("JKVM");
        // no PM1/GPE blocks, no FACS
        assertThat(Arrays.copyOfRange(f.array(), 56, 96)).containsOnly(0);
        assertThat(f.getLong(132)).isZero();
    }

    private static void assertGas(ByteBuffer f, int off, int port) {
        assertThat(f.get(off)).isEqualTo((byte) 1);
        assertThat(f.get(off + 1)).isEqualTo((byte) 8);
        assertThat(f.get(off + 2)).isZero();
        assertThat(f.get(off + 3)).isEqualTo((byte) 1);
        assertThat(f.getLong(off + 4)).isEqualTo(port);
    }

    @Test
    void madtListsCpusIoApicOverridesAndNmi() {
        byte[] t = Madt.build(3);
        ByteBuffer b = le(t);
        assertThat(sig(t)).isEqualTo("APIC");
        assertThat(b.getInt(4)).isEqualTo(t.length);
        assertThat(b.getInt(36)).isEqualTo((int) Layout.LAPIC_BASE);
        assertThat(b.getInt(40)).isEqualTo(1);
        List<int[]> lapics = new ArrayList<>();
        int ioapics = 0;
        List<int[]> overrides = new ArrayList<>();
        int nmis = 0;
        int off = 44;
        while (off < t.length) {
            int type = t[off] & 0xff;
            int len = t[off + 1] & 0xff;
            switch (type) {
                case 0 -> lapics.add(new int[] {t[off + 2], t[off + 3], b.getInt(off + 4)});
                case 1 -> {
                    ioapics++;
                    assertThat(t[off + 2]).isEqualTo((byte) 3);
                    assertThat(b.getInt(off + 4)).isEqualTo((int) Layout.IOAPIC_BASE);
                    assertThat(b.getInt(off + 8)).isZero();
                }
                case 2 -> overrides.add(new int[] {t[off + 2], t[off + 3], b.getInt(off + 4), b.getShort(off + 8)});
                case 4 -> {
                    nmis++;
                    assertThat(t[off + 2] & 0xff).isEqualTo(0xff);
                    assertThat(t[off + 5]).isEqualTo((byte) 1);
                }
                default -> throw new AssertionError("unexpected MADT entry " + type);
            }
            assertThat(len).isPositive();
            off += len;
        }
        assertThat(off).isEqualTo(t.length);
        assertThat(lapics).hasSize(3);
        for (int i = 0; i < 3; i++) {
            assertThat(lapics.get(i)).containsExactly(i, i, 1);
        }
        assertThat(ioapics).isEqualTo(1);
        assertThat(overrides.get(0)).containsExactly(0, 0, 2, 0);
        assertThat(overrides.get(1)).containsExactly(0, 9, 9, 0xd);
        assertThat(nmis).isEqualTo(1);
    }

    @Test
    void dsdtDecodesBack() {
        byte[] dsdt = Dsdt.build();
        assertThat(dsdt[8]).isEqualTo((byte) 2);
        AmlDecoder d = AmlDecoder.decode(dsdt, AcpiTable.HEADER_SIZE);
        assertThat(d.names.get("\\_S5_")).isEqualTo(List.of((long) Layout.ACPI_S5_SLP_TYP, 0L, 0L, 0L));
        assertThat(d.devices).containsExactly("\\_SB_.PCI0", "\\_SB_.COM1", "\\_SB_.PS2K", "\\_SB_.RTC_");
        // i8042: IO 0x60 and 0x64 (1 byte each), IRQ 1; RTC: IO 0x70-0x71, IRQ 8 (ACPI 6.4 §6.4.2.1/5).
        assertThat((byte[]) d.names.get("\\_SB_.PS2K._CRS")).containsExactly(0x47, 0x01, 0x60, 0x00, 0x60, 0x00, 0x01, 0x01,
                0x47, 0x01, 0x64, 0x00, 0x64, 0x00, 0x01, 0x01, 0x22, 0x02, 0x00, 0x79, 0x00);
        assertThat((byte[]) d.names.get("\\_SB_.RTC_._CRS")).containsExactly(0x47, 0x01, 0x70, 0x00, 0x70, 0x00, 0x01, 0x02,
                0x22, 0x00, 0x01, 0x79, 0x00);
        assertThat(d.names.get("\\_SB_.PCI0._HID")).isEqualTo(0x030ad041L);
        assertThat(d.names.get("\\_SB_.PCI0._UID")).isEqualTo(0L);
        assertThat(d.names.get("\\_SB_.PCI0._SEG")).isEqualTo(0L);
        assertThat(d.names.get("\\_SB_.PCI0._BBN")).isEqualTo(0L);
        assertThat(d.names.get("\\_SB_.COM1._HID")).isEqualTo(0x0105d041L);

        byte[] crs = (byte[]) d.names.get("\\_SB_.PCI0._CRS");
        assertThat(crs).endsWith(0x79, 0x00);
        assertThat(Arrays.copyOfRange(crs, 16, 24)).isEqualTo(AmlResources.io(0xcf8, 0xcf8, 1, 8));
        assertThat(crs).hasSize(16 + 8 + 16 + 16 + 26 + 2);
        byte[] com1 = (byte[]) d.names.get("\\_SB_.COM1._CRS");
        assertThat(com1).containsExactly(0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00);

        @SuppressWarnings("unchecked")
        List<List<Long>> prt = (List<List<Long>>) d.names.get("\\_SB_.PCI0._PRT");
        assertThat(prt).hasSize(31 * 4);
        for (List<Long> e : prt) {
            int slot = (int) (e.get(0) >>> 16);
            assertThat(e.get(0) & 0xffff).isEqualTo(0xffff);
            int pin = e.get(1).intValue();
            assertThat(e.get(2)).isZero();
            assertThat(e.get(3)).isEqualTo(16L + (slot + pin) % 8);
            assertThat(slot).isBetween(1, 31);
        }
    }

    private static byte[] sha256(byte[] b) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(b);
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    private static List<VirtioMmioWindow> slots(int n) {
        List<VirtioMmioWindow> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(VirtioMmioWindow.ofSlot(i));
        }
        return out;
    }

    /** The Interrupt Source Overrides of a MADT as {bus, source, GSI, flags}, in table order. */
    private static List<List<Integer>> overrides(byte[] t) {
        ByteBuffer b = le(t);
        List<List<Integer>> out = new ArrayList<>();
        for (int off = 44; off < t.length; off += t[off + 1] & 0xff) {
            if (t[off] == Madt.TYPE_INTERRUPT_OVERRIDE) {
                assertThat(t[off + 1]).isEqualTo((byte) 10);
                out.add(List.of(t[off + 2] & 0xff, t[off + 3] & 0xff, b.getInt(off + 4), b.getShort(off + 8) & 0xffff));
            }
        }
        return out;
    }

    @Test
    void dsdtDescribesEachVirtioMmioDeviceInAttachOrder() {
        List<VirtioMmioWindow> windows = slots(3);
        AmlDecoder d = AmlDecoder.decode(Dsdt.build(windows), AcpiTable.HEADER_SIZE);
        assertThat(d.devices).containsExactly("\\_SB_.PCI0", "\\_SB_.COM1", "\\_SB_.PS2K", "\\_SB_.RTC_",
                "\\_SB_.VR00", "\\_SB_.VR01", "\\_SB_.VR02");
        for (int i = 0; i < 3; i++) {
            String dev = "\\_SB_.VR0" + i;
            assertThat(d.names.get(dev + "._HID")).as(dev).isEqualTo("LNRO0005");
            assertThat(d.names.get(dev + "._UID")).as(dev).isEqualTo((long) i);
            byte[] crs = (byte[]) d.names.get(dev + "._CRS");
            ByteBuffer c = le(crs);
            // Memory32Fixed (ACPI 6.4 §6.4.3.4): read/write, base, 4 KiB.
            assertThat(crs).hasSize(12 + 9 + 2);
            assertThat(crs[0]).isEqualTo((byte) 0x86);
            assertThat(c.getShort(1)).isEqualTo((short) 9);
            assertThat(crs[3]).isEqualTo((byte) 1);
            assertThat(c.getInt(4) & 0xffff_ffffL).isEqualTo(VirtioMmioSlots.base(i));
            assertThat(c.getInt(8)).isEqualTo(0x1000);
            // Extended Interrupt (§6.4.3.6): consumer, level, active-high, exclusive; one GSI.
            assertThat(crs[12]).isEqualTo((byte) 0x89);
            assertThat(c.getShort(13)).isEqualTo((short) 6);
            assertThat(crs[15]).isEqualTo((byte) 0x01);
            assertThat(crs[16]).isEqualTo((byte) 1);
            assertThat(c.getInt(17)).isEqualTo(VirtioMmioSlots.gsi(i));
            assertThat(Arrays.copyOfRange(crs, 21, 23)).containsExactly(0x79, 0x00);
        }
        assertThat(VirtioMmioSlots.base(2)).isEqualTo(0xfc00_2000L);
        assertThat(VirtioMmioSlots.gsi(2)).isEqualTo(7);
    }

    @Test
    void aPciVmGetsTheSameTablesAsBefore() {
        byte[] pci = Dsdt.build();
        assertThat(Dsdt.build(List.of())).isEqualTo(pci);
        // The PCI VM's DSDT as it was before virtio-mmio devices were described in ACPI.
        assertThat(HexFormat.of().formatHex(sha256(pci)))
                .isEqualTo("99290cb9a3a4ae3af23135fd98e6ecd36da2084dcdf73c2abc1f3f515c98fa52");
        assertThat(new String(pci, StandardCharsets.ISO_8859_1)).doesNotContain("LNRO0005");
        assertThat(AmlDecoder.decode(pci, AcpiTable.HEADER_SIZE).devices)
                .containsExactly("\\_SB_.PCI0", "\\_SB_.COM1", "\\_SB_.PS2K", "\\_SB_.RTC_");
        assertThat(Madt.build(2, List.of())).isEqualTo(Madt.build(2));
        assertThat(overrides(Madt.build(2))).containsExactly(List.of(0, 0, 2, 0), List.of(0, 9, 9, 0xd));
        GuestMemory a = TestMemory.flat(2L << 20);
        GuestMemory b = TestMemory.flat(2L << 20);
        AcpiTables.Written wa = AcpiTables.write(a, 2);
        AcpiTables.Written wb = AcpiTables.write(b, 2, List.of());
        assertThat(wb).isEqualTo(wa);
        assertThat(b.read(Layout.ACPI_START, (int) (wb.end() - Layout.ACPI_START)))
                .isEqualTo(a.read(Layout.ACPI_START, (int) (wa.end() - Layout.ACPI_START)));
    }

    @Test
    void madtMakesEachVirtioMmioGsiLevelTriggeredAndKeepsTheOtherOverrides() {
        byte[] t = Madt.build(2, slots(VirtioMmioSlots.MAX_DEVICES));
        assertThat(AcpiTable.sum(t, 0, t.length)).isZero();
        List<Integer> isaRange = VirtioMmioSlots.gsis().stream().filter(g -> g < 16).toList();
        assertThat(isaRange).hasSize(8);
        assertThat(t).hasSize(Madt.build(2).length + 10 * isaRange.size());
        List<List<Integer>> expected = new ArrayList<>(List.of(List.of(0, 0, 2, 0), List.of(0, 9, 9, 0xd)));
        for (int gsi : isaRange) {
            // ISA bus, IRQ n to GSI n, active-high (bits 1:0 = 01) and level (bits 3:2 = 11), ACPI 6.4 Table 5.50.
            expected.add(List.of(0, gsi, gsi, 0xd));
        }
        assertThat(overrides(t)).isEqualTo(expected);
        assertThatThrownBy(() -> Madt.build(1, List.of(new VirtioMmioWindow(0xfc00_0000L, Layout.ACPI_SCI_IRQ))))
                .isInstanceOf(IllegalArgumentException.class);
        // a GSI above the ISA range is no ISA IRQ and needs no override
        assertThat(overrides(Madt.build(1, List.of(new VirtioMmioWindow(0xfc00_0000L, 20))))).hasSize(2);
    }

    @Test
    void anMmioVmsTablesChecksumAndCarryTheDevices() {
        GuestMemory mem = TestMemory.flat(2L << 20);
        AcpiTables.Written w = AcpiTables.write(mem, 4, slots(VirtioMmioSlots.MAX_DEVICES));
        assertThat(w.end()).isLessThanOrEqualTo(Layout.ACPI_END);
        byte[] madt = table(mem, w.madt());
        byte[] dsdt = table(mem, w.dsdt());
        assertThat(AcpiTable.sum(madt, 0, madt.length)).isZero();
        assertThat(AcpiTable.sum(dsdt, 0, dsdt.length)).isZero();
        // An override per ISA-range GSI (5..15: eight of them); inputs 16..23 have no ISA default to override.
        assertThat(overrides(madt)).hasSize(2 + 8);
        assertThat(AmlDecoder.decode(dsdt, AcpiTable.HEADER_SIZE).devices)
                .filteredOn(n -> n.startsWith("\\_SB_.VR")).hasSize(VirtioMmioSlots.MAX_DEVICES)
                .last().isEqualTo("\\_SB_.VR0F");
    }
}
