package io.jkvm.arch.x86.cpu;

import io.jkvm.kvm.MsrEntry;

import static org.assertj.core.api.Assertions.assertThat;

import io.jkvm.arch.x86.Layout;
import io.jkvm.arch.x86.TestMemory;
import io.jkvm.memory.GuestMemory;
import org.junit.jupiter.api.Test;

class BootCpuStateTest {
    @Test
    void descriptorDecoding() {
        Segment code64 = Segment.fromDescriptor(0x00af9b000000ffffL, 0x10);
        assertThat(code64).isEqualTo(new Segment(0, 0xffffffffL, 0x10, 0xb, true, 0, false, true, true, true, false, false));
        Segment data = Segment.fromDescriptor(0x00cf93000000ffffL, 0x18);
        assertThat(data).isEqualTo(new Segment(0, 0xffffffffL, 0x18, 0x3, true, 0, true, true, false, true, false, false));
        Segment tss = Segment.fromDescriptor(0x008f8b000000ffffL, 0x20);
        assertThat(tss.s()).isFalse();
        assertThat(tss.type()).isEqualTo(0xb);
        Segment odd = Segment.fromDescriptor(0x12_4_0_f2_345678_9abcL, 0x2b);
        assertThat(odd.base()).isEqualTo(0x12345678L);
        assertThat(odd.limit()).isEqualTo(0x9abc);
        assertThat(odd.dpl()).isEqualTo(3);
        assertThat(odd.type()).isEqualTo(2);
        assertThat(odd.db()).isTrue();
        assertThat(odd.g()).isFalse();
    }

    @Test
    void longModeEntryState() {
        BootCpuState s = BootCpuState.longMode(0x100200, Layout.ZERO_PAGE);
        assertThat(s.rip()).isEqualTo(0x100200);
        assertThat(s.rsi()).isEqualTo(Layout.ZERO_PAGE);
        assertThat(s.rflags()).isEqualTo(2);
        assertThat(s.cr0()).isEqualTo(0x80000011L);
        assertThat(s.cr3()).isEqualTo(Layout.PML4);
        assertThat(s.cr4()).isEqualTo(0x20);
        assertThat(s.efer()).isEqualTo(0x500);
        assertThat(s.cs().selector()).isEqualTo(0x10);
        assertThat(s.cs().l()).isTrue();
        assertThat(s.cs().db()).isFalse();
        assertThat(s.ds().selector()).isEqualTo(0x18);
        assertThat(s.ss()).isEqualTo(s.ds());
        assertThat(s.tr().type()).isEqualTo(11);
        assertThat(s.gdt()).isEqualTo(new DescriptorTable(Layout.BOOT_GDT, 31));
        assertThat(s.idt()).isEqualTo(new DescriptorTable(Layout.BOOT_IDT, 7));
    }

    @Test
    void pvhEntryState() {
        BootCpuState s = BootCpuState.pvh(0x1000040, Layout.PVH_INFO);
        assertThat(s.rip()).isEqualTo(0x1000040);
        assertThat(s.rbx()).isEqualTo(Layout.PVH_INFO);
        assertThat(s.cr0() & BootCpuState.CR0_PE).isEqualTo(1);
        assertThat(s.cr0() & BootCpuState.CR0_PG).isZero();
        assertThat(s.cr4()).isZero();
        assertThat(s.efer()).isZero();
        assertThat(s.cs().selector()).isEqualTo(0x08);
        assertThat(s.cs().db()).isTrue();
        assertThat(s.cs().l()).isFalse();
        assertThat(s.cs().limit()).isEqualTo(0xffffffffL);
        assertThat(s.cs().base()).isZero();
        assertThat(s.ds().limit()).isEqualTo(0xffffffffL);
        assertThat(s.tr().limit()).isEqualTo(0x67);
        assertThat(s.rflags() & (1 << 9)).isZero();
    }

    @Test
    void gdtInMemoryMatchesSegments() {
        GuestMemory mem = TestMemory.flat(1L << 20);
        BootGdt.write(mem);
        assertThat(mem.readLong(Layout.BOOT_GDT)).isZero();
        assertThat(mem.readLong(Layout.BOOT_GDT + 0x10)).isEqualTo(0x00af9b000000ffffL);
        assertThat(mem.readLong(Layout.BOOT_GDT + 0x18)).isEqualTo(0x00cf93000000ffffL);
        BootCpuState s = BootCpuState.longMode(0, 0);
        assertThat(Segment.fromDescriptor(mem.readLong(Layout.BOOT_GDT + s.cs().selector()), s.cs().selector()))
                .isEqualTo(s.cs());
        assertThat(mem.readLong(Layout.BOOT_IDT)).isZero();
    }

    @Test
    void identityPageTablesMapFirst4GiB() {
        GuestMemory mem = TestMemory.flat(1L << 20);
        mem.fill(Layout.PML4, 0x6000, (byte) 0xee);
        PageTables.write(mem);
        assertThat(mem.readLong(Layout.PML4)).isEqualTo(Layout.PDPT | 3);
        assertThat(mem.readLong(Layout.PML4 + 8)).isZero();
        for (int i = 0; i < 4; i++) {
            assertThat(mem.readLong(Layout.PDPT + 8L * i)).isEqualTo(Layout.PD + 0x1000L * i | 3);
        }
        assertThat(mem.readLong(Layout.PDPT + 32)).isZero();
        // walk a few addresses through the tables
        for (long va : new long[] {0, 0x100200, 0x7000, 0xbfe0_1234L, 0xffff_ffffL}) {
            long pml4e = mem.readLong(Layout.PML4 + 8 * ((va >>> 39) & 511));
            long pdpte = mem.readLong((pml4e & ~0xfffL) + 8 * ((va >>> 30) & 511));
            long pde = mem.readLong((pdpte & ~0xfffL) + 8 * ((va >>> 21) & 511));
            assertThat(pde & 0x83).isEqualTo(0x83);
            assertThat((pde & ~0x1fffffL) | (va & 0x1fffff)).isEqualTo(va);
        }
    }

    @Test
    void bootMsrs() {
        assertThat(BootMsrs.entries()).contains(
                new MsrEntry(0x1a0, 1), new MsrEntry(0x2ff, 0x806), new MsrEntry(0x10, 0),
                new MsrEntry(0xc0000082, 0), new MsrEntry(0x174, 0));
        assertThat(BootMsrs.entries()).hasSize(11);
    }
}
