package io.jkvm.arch.x86.mptable;

import io.jkvm.arch.x86.Layout;
import io.jkvm.arch.x86.TestMemory;
import io.jkvm.arch.x86.VirtioMmioSlots;
import io.jkvm.arch.x86.VirtioMmioWindow;
import io.jkvm.arch.x86.acpi.AcpiTables;
import io.jkvm.device.pci.PciRoot;
import io.jkvm.memory.GuestMemory;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Unit: the MP tables (MultiProcessor Specification 1.4) a guest with {@code acpi=off} reads,
 * parsed back here as Linux's mpparse does: the floating pointer where Linux searches, both
 * checksums, the entries in type order, one processor per vCPU, the I/O APIC with the MADT's ID,
 * and interrupt entries that agree with the MADT (ISA IRQ 0 on input 2, the virtio-mmio inputs
 * level/active-high, from 16 up too) and never wire one input two ways.
 */
class MpTableTest {
    /** One parsed entry: its type and its bytes. */
    record Entry(int type, byte[] b) {
        int u8(int i) {
            return b[i] & 0xff;
        }

        int flags() {
            return (b[2] & 0xff) | (b[3] & 0xff) << 8;
        }
    }

    private static List<VirtioMmioWindow> slots(int n) {
        List<VirtioMmioWindow> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(VirtioMmioWindow.ofSlot(i));
        }
        return out;
    }

    private static int sum(byte[] b) {
        int s = 0;
        for (byte x : b) {
            s += x & 0xff;
        }
        return s & 0xff;
    }

    static List<Entry> parse(byte[] t) {
        ByteBuffer b = ByteBuffer.wrap(t).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(new String(t, 0, 4, StandardCharsets.US_ASCII)).isEqualTo("PCMP");
        assertThat(b.getShort(4) & 0xffff).as("base table length").isEqualTo(t.length);
        assertThat(t[6]).as("spec revision 1.4").isEqualTo((byte) 4);
        assertThat(sum(t)).as("table checksum").isZero();
        assertThat(b.getInt(36)).as("local APIC address").isEqualTo((int) Layout.LAPIC_BASE);
        int count = b.getShort(34) & 0xffff;
        List<Entry> out = new ArrayList<>();
        int at = MpTable.HEADER_SIZE;
        for (int i = 0; i < count; i++) {
            int type = t[at] & 0xff;
            int len = type == MpTable.TYPE_PROCESSOR ? MpTable.PROCESSOR_SIZE : MpTable.ENTRY_SIZE;
            byte[] e = new byte[len];
            System.arraycopy(t, at, e, 0, len);
            out.add(new Entry(type, e));
            at += len;
        }
        assertThat(at).as("the entries fill the table exactly").isEqualTo(t.length);
        for (int i = 1; i < out.size(); i++) {
            assertThat(out.get(i).type()).as("entries in type order (§4.3)").isGreaterThanOrEqualTo(out.get(i - 1).type());
        }
        return out;
    }

    /**
     * I/O APIC input to its ISA entry; fails if an ISA source shares an input with another ISA
     * source or with any PCI INTx line (PCI lines share inputs among themselves: the swizzle).
     */
    private static Map<Integer, Entry> byPin(List<Entry> entries) {
        Map<Integer, Entry> pins = new HashMap<>();
        List<Integer> pciPins = new ArrayList<>();
        for (Entry e : entries) {
            if (e.type() == MpTable.TYPE_IO_INTERRUPT && e.u8(4) == MpTable.ISA_BUS) {
                assertThat(pins.put(e.u8(7), e)).as("input %d wired once", e.u8(7)).isNull();
            } else if (e.type() == MpTable.TYPE_IO_INTERRUPT) {
                pciPins.add(e.u8(7));
            }
        }
        assertThat(pciPins).doesNotContainAnyElementsOf(pins.keySet());
        return pins;
    }

    @Test
    void aPciVmHasItsCpusItsIoApicTheIsaIrqsAndEachSlotsIntxOnTheSwizzledInput() {
        List<Entry> es = parse(MpTable.build(3, List.of()));
        List<Entry> cpus = es.stream().filter(e -> e.type() == MpTable.TYPE_PROCESSOR).toList();
        assertThat(cpus).hasSize(3);
        for (int i = 0; i < 3; i++) {
            assertThat(cpus.get(i).u8(1)).as("APIC ID").isEqualTo(i);
            assertThat(cpus.get(i).u8(3)).as("flags: enabled, BP on the first only").isEqualTo(i == 0 ? 3 : 1);
        }
        List<Entry> ioapics = es.stream().filter(e -> e.type() == MpTable.TYPE_IOAPIC).toList();
        assertThat(ioapics).hasSize(1);
        assertThat(ioapics.get(0).u8(1)).as("the MADT's I/O APIC ID").isEqualTo(io.jkvm.arch.x86.acpi.Madt.ioApicId(3));
        assertThat(ByteBuffer.wrap(ioapics.get(0).b()).order(ByteOrder.LITTLE_ENDIAN).getInt(4)).isEqualTo((int) Layout.IOAPIC_BASE);

        List<Entry> isa = es.stream().filter(e -> e.type() == MpTable.TYPE_IO_INTERRUPT && e.u8(4) == MpTable.ISA_BUS).toList();
        assertThat(isa.stream().map(e -> e.u8(5)).toList()).as("ISA sources: all but the cascade")
                .containsExactly(0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        Entry timer = isa.get(0);
        assertThat(timer.u8(7)).as("ISA IRQ 0 on input 2, as the MADT's override").isEqualTo(2);
        for (Entry e : isa) {
            assertThat(e.flags()).as("ISA IRQ %d", e.u8(5))
                    .isEqualTo(e.u8(5) == Layout.ACPI_SCI_IRQ ? MpTable.LEVEL_ACTIVE_HIGH : MpTable.CONFORMS);
        }
        List<Entry> pci = es.stream().filter(e -> e.type() == MpTable.TYPE_IO_INTERRUPT && e.u8(4) == MpTable.PCI_BUS).toList();
        assertThat(pci).hasSize(PciRoot.SLOTS * 4);
        for (Entry e : pci) {
            int slot = e.u8(5) >> 2;
            int pin = e.u8(5) & 3;
            assertThat(e.u8(7)).isEqualTo(Layout.pciIntxGsi(slot, pin));
            assertThat(e.flags()).isEqualTo(MpTable.LEVEL_ACTIVE_LOW);
        }
        byPin(es);
        List<Entry> local = es.stream().filter(e -> e.type() == MpTable.TYPE_LOCAL_INTERRUPT).toList();
        assertThat(local).hasSize(2);
        assertThat(local.get(1).u8(1)).as("NMI").isEqualTo(MpTable.NMI);
        assertThat(local.get(1).u8(6)).as("to every local APIC").isEqualTo(0xff);
        assertThat(local.get(1).u8(7)).as("LINT1").isEqualTo(1);
    }

    @Test
    void anMmioVmWiresEachDeviceLevelActiveHighIncludingInputsFrom16AndHasNoPciIntx() {
        List<Entry> es = parse(MpTable.build(2, slots(VirtioMmioSlots.MAX_DEVICES)));
        Map<Integer, Entry> pins = byPin(es);
        for (int gsi : VirtioMmioSlots.gsis()) {
            Entry e = pins.get(gsi);
            assertThat(e).as("GSI %d", gsi).isNotNull();
            assertThat(e.flags()).as("GSI %d", gsi).isEqualTo(MpTable.LEVEL_ACTIVE_HIGH);
            assertThat(e.u8(4)).isEqualTo(MpTable.ISA_BUS);
            assertThat(e.u8(5)).as("an ISA source of the GSI's own number").isEqualTo(gsi);
        }
        assertThat(es).noneMatch(e -> e.type() == MpTable.TYPE_IO_INTERRUPT && e.u8(4) == MpTable.PCI_BUS);
    }

    @Test
    void theFloatingPointerPointsAtTheTableFromWhereLinuxSearches() {
        GuestMemory mem = TestMemory.flat(2L << 20);
        AcpiTables.Written acpi = AcpiTables.write(mem, 4, slots(11));
        MpTables.Written w = MpTables.write(mem, 4, slots(11), acpi.end());
        assertThat(w.pointer()).isEqualTo(Layout.EBDA_START).isEqualTo(639L * 1024);
        byte[] p = mem.read(w.pointer(), MpFloatingPointer.SIZE);
        assertThat(new String(p, 0, 4, StandardCharsets.US_ASCII)).isEqualTo("_MP_");
        assertThat(sum(p)).as("pointer checksum").isZero();
        assertThat(p[8]).as("one 16-byte paragraph").isEqualTo((byte) 1);
        assertThat(p[11]).as("a configuration table is present (no default configuration)").isZero();
        long table = ByteBuffer.wrap(p).order(ByteOrder.LITTLE_ENDIAN).getInt(4) & 0xffffffffL;
        assertThat(table).isEqualTo(w.table()).isGreaterThanOrEqualTo(acpi.end());
        assertThat(table % 16).isZero();
        int len = ByteBuffer.wrap(mem.read(table, 6)).order(ByteOrder.LITTLE_ENDIAN).getShort(4) & 0xffff;
        parse(mem.read(table, len));
        assertThatThrownBy(() -> MpTable.build(0, List.of())).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> MpTable.build(MpTable.MAX_VCPUS + 1, List.of())).isInstanceOf(IllegalArgumentException.class);
    }

    @Property(tries = 60)
    void everyMachineShapeFitsBelowOneMibAndParses(@ForAll @IntRange(min = 1, max = MpTable.MAX_VCPUS) int vcpus,
            @ForAll @IntRange(min = 0, max = 16) int mmio) { // 16: VirtioMmioSlots.MAX_DEVICES
        GuestMemory mem = TestMemory.flat(2L << 20);
        AcpiTables.Written acpi = AcpiTables.write(mem, vcpus, slots(mmio));
        MpTables.Written w = MpTables.write(mem, vcpus, slots(mmio), acpi.end());
        assertThat(w.end()).isLessThanOrEqualTo(Layout.ACPI_END);
        List<Entry> es = parse(mem.read(w.table(), (int) (w.end() - w.table())));
        assertThat(es.stream().filter(e -> e.type() == MpTable.TYPE_PROCESSOR)).hasSize(vcpus);
        byPin(es);
    }
}
