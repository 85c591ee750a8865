package io.jkvm.arch.x86.e820;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jkvm.arch.x86.Layout;
import io.jkvm.arch.x86.RamLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

class E820MapTest {
    @Test
    void smallGuest() {
        E820Map m = E820Map.forRam(512L << 20);
        assertThat(m.entries()).containsExactly(
                new E820Entry(0, Layout.EBDA_START, E820Entry.RAM),
                new E820Entry(Layout.EBDA_START, 0x100000 - Layout.EBDA_START, E820Entry.RESERVED),
                new E820Entry(0x100000, (512L << 20) - 0x100000, E820Entry.RAM));
        assertThat(m.covers(Layout.ACPI_START, Layout.ACPI_END - Layout.ACPI_START, E820Entry.RESERVED)).isTrue();
        assertThat(m.covers(Layout.ZERO_PAGE, 4096, E820Entry.RAM)).isTrue();
    }

    @Test
    void largeGuestSplitsAroundTheHole() {
        long ram = 8L << 30;
        E820Map m = E820Map.forRam(ram);
        assertThat(m.entries()).hasSize(4);
        assertThat(m.entries().get(2)).isEqualTo(new E820Entry(0x100000, Layout.MMIO32_START - 0x100000, E820Entry.RAM));
        assertThat(m.entries().get(3)).isEqualTo(new E820Entry(Layout.FOUR_GIB, ram - Layout.MMIO32_START, E820Entry.RAM));
        long usable = m.entries().stream().filter(e -> e.type() == E820Entry.RAM).mapToLong(E820Entry::size).sum();
        assertThat(usable).isEqualTo(ram - (0x100000 - Layout.EBDA_START));
        assertThat(m.covers(Layout.PCI_MMIO32_START, 4096, E820Entry.RAM)).isFalse();
    }

    @Test
    void exactlyHoleSizedRamHasNoHighRange() {
        assertThat(E820Map.forRam(Layout.MMIO32_START).entries()).hasSize(3);
        assertThat(RamLayout.ranges(Layout.MMIO32_START)).hasSize(1);
        assertThat(RamLayout.ranges(Layout.MMIO32_START + 4096)).hasSize(2);
    }

    @Test
    void builderMergesAndRejectsOverlaps() {
        E820Map m = new E820Map.Builder()
                .add(0x2000, 0x1000, E820Entry.RAM)
                .add(0x0, 0x2000, E820Entry.RAM)
                .add(0x3000, 0x1000, E820Entry.RESERVED)
                .build();
        assertThat(m.entries()).containsExactly(
                new E820Entry(0, 0x3000, E820Entry.RAM), new E820Entry(0x3000, 0x1000, E820Entry.RESERVED));
        assertThatThrownBy(() -> new E820Map.Builder().add(0, 0x2000, 1).add(0x1000, 0x2000, 2).build())
                .hasMessageContaining("overlap");
        assertThatThrownBy(() -> new E820Entry(0, 0, 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new E820Entry(Long.MAX_VALUE, 2, 1)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void serialisesBothForms() {
        E820Map m = E820Map.forRam(8L << 30);
        ByteBuffer bp = ByteBuffer.wrap(m.toBootParamsTable()).order(ByteOrder.LITTLE_ENDIAN);
        ByteBuffer pvh = ByteBuffer.wrap(m.toPvhMemmap()).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(bp.capacity()).isEqualTo(20 * m.size());
        assertThat(pvh.capacity()).isEqualTo(24 * m.size());
        for (int i = 0; i < m.size(); i++) {
            E820Entry e = m.entries().get(i);
            assertThat(bp.getLong(20 * i)).isEqualTo(e.addr());
            assertThat(bp.getLong(20 * i + 8)).isEqualTo(e.size());
            assertThat(bp.getInt(20 * i + 16)).isEqualTo(e.type());
            assertThat(pvh.getLong(24 * i)).isEqualTo(e.addr());
            assertThat(pvh.getLong(24 * i + 8)).isEqualTo(e.size());
            assertThat(pvh.getInt(24 * i + 16)).isEqualTo(e.type());
            assertThat(pvh.getInt(24 * i + 20)).isZero();
        }
    }

    @Test
    void ramSizeValidation() {
        assertThatThrownBy(() -> RamLayout.ranges(1L << 20)).hasMessageContaining("below the minimum");
        assertThatThrownBy(() -> RamLayout.ranges((64L << 20) + 1)).hasMessageContaining("multiple of 4 KiB");
    }
}
