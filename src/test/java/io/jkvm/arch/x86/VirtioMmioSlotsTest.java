package io.jkvm.arch.x86;

import io.jkvm.arch.x86.e820.E820Entry;
import io.jkvm.arch.x86.e820.E820Map;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Unit: the virtio-mmio windows and GSIs never meet RAM, PCI, the interrupt controllers or the legacy devices. */
class VirtioMmioSlotsTest {
    private static boolean overlaps(long aStart, long aEnd, long bStart, long bEnd) {
        return aStart < bEnd && bStart < aEnd;
    }

    @Test
    void theWindowIsInTheHoleBetweenThePciWindowAndTheIoapic() {
        long start = Layout.VIRTIO_MMIO_START;
        long end = Layout.VIRTIO_MMIO_END;
        assertThat(start).isGreaterThanOrEqualTo(Layout.MMIO32_START);
        assertThat(overlaps(start, end, Layout.PCI_MMIO32_START, Layout.PCI_MMIO32_END)).as("PCI BAR window").isFalse();
        assertThat(overlaps(start, end, Layout.IOAPIC_BASE, Layout.IOAPIC_BASE + Layout.IOAPIC_SIZE)).as("IOAPIC").isFalse();
        assertThat(overlaps(start, end, Layout.LAPIC_BASE, Layout.LAPIC_BASE + Layout.LAPIC_SIZE)).as("LAPIC").isFalse();
        assertThat(overlaps(start, end, Layout.IDENTITY_MAP_ADDR, Layout.TSS_ADDR + 3 * 4096)).as("KVM pages").isFalse();
        assertThat(end).isLessThanOrEqualTo(Layout.FOUR_GIB);
        long lastSlotEnd = VirtioMmioSlots.base(VirtioMmioSlots.MAX_DEVICES - 1) + VirtioMmioSlots.WINDOW;
        assertThat(lastSlotEnd).as("every slot inside the reserved window").isLessThanOrEqualTo(end);
    }

    @Test
    void theWindowIsNeverRamNorInTheE820Map() {
        for (long ram : new long[] {RamLayout.MIN_RAM, 128L << 20, Layout.MMIO32_START, Layout.MMIO32_START + (1L << 20),
                8L << 30, 64L << 30}) {
            for (RamLayout.Range r : RamLayout.ranges(ram)) {
                assertThat(overlaps(Layout.VIRTIO_MMIO_START, Layout.VIRTIO_MMIO_END, r.start(), r.end()))
                        .as("RAM %s for %d bytes", r, ram).isFalse();
            }
            for (E820Entry e : E820Map.forRam(ram).entries()) {
                assertThat(overlaps(Layout.VIRTIO_MMIO_START, Layout.VIRTIO_MMIO_END, e.addr(), e.addr() + e.size()))
                        .as("e820 entry %s for %d bytes", e, ram).isFalse();
            }
        }
    }

    @Test
    void slotsAreDistinctAlignedWindowsInOrder() {
        for (int i = 0; i < VirtioMmioSlots.MAX_DEVICES; i++) {
            assertThat(VirtioMmioSlots.base(i) % VirtioMmioSlots.WINDOW).isZero();
            if (i > 0) {
                assertThat(VirtioMmioSlots.base(i)).isEqualTo(VirtioMmioSlots.base(i - 1) + VirtioMmioSlots.WINDOW);
            }
        }
        assertThat(VirtioMmioSlots.base(0)).isEqualTo(0xfc00_0000L);
        assertThatThrownBy(() -> VirtioMmioSlots.base(VirtioMmioSlots.MAX_DEVICES)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> VirtioMmioSlots.gsi(-1)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void gsisAreDistinctInputsNoLegacyDeviceUsesFreeIsaOnesFirst() {
        List<Integer> gsis = VirtioMmioSlots.gsis();
        assertThat(new HashSet<>(gsis)).hasSize(VirtioMmioSlots.MAX_DEVICES);
        Set<Integer> taken = new HashSet<>(List.of(0, 2, Layout.COM1_IRQ, Layout.COM2_IRQ, Layout.I8042_KBD_IRQ,
                Layout.I8042_AUX_IRQ, Layout.RTC_IRQ, Layout.ACPI_SCI_IRQ));
        Set<Integer> pciIntx = new HashSet<>();
        for (int slot = 0; slot < 32; slot++) {
            for (int pin = 0; pin < 4; pin++) {
                pciIntx.add(Layout.pciIntxGsi(slot, pin));
            }
        }
        for (int i = 0; i < gsis.size(); i++) {
            int g = gsis.get(i);
            assertThat(taken).as("GSI %d", g).doesNotContain(g);
            assertThat(g).isBetween(0, Layout.IOAPIC_PINS - 1);
            // The PCI INTx inputs only after every free ISA one (a virtio-mmio VM has no PCI function).
            assertThat(pciIntx.contains(g)).as("slot %d GSI %d", i, g).isEqualTo(i >= 8);
        }
        assertThat(gsis).containsExactly(5, 6, 7, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23);
        // Kata's Firecracker sandbox: root drive, eight placeholder drives, a NIC and vsock.
        VirtioMmioSlots.requireFits(11);
    }

    @Test
    void theCommandLineDeclaresEachDeviceInAttachOrder() {
        assertThat(VirtioMmioSlots.kernelParameters(0)).isEmpty();
        assertThat(VirtioMmioSlots.kernelParameters(3)).isEqualTo("virtio_mmio.device=4K@0xfc000000:5"
                + " virtio_mmio.device=4K@0xfc001000:6 virtio_mmio.device=4K@0xfc002000:7");
        assertThatThrownBy(() -> VirtioMmioSlots.kernelParameters(VirtioMmioSlots.MAX_DEVICES + 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("at most 16");
    }
}
