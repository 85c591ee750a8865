package io.jkvm.arch.x86.e820;

import io.jkvm.arch.x86.Layout;
import io.jkvm.arch.x86.RamLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;

/**
 * The guest's firmware memory map: sorted, non-overlapping, adjacent entries of the same type
 * merged. Serialises to the boot_params e820 table (zero-page.rst: e820_table at 0x2d0, at most
 * {@value #MAX_ZERO_PAGE_ENTRIES} entries) and to the PVH hvm_memmap_table_entry array.
 */
public final class E820Map {
    public static final int MAX_ZERO_PAGE_ENTRIES = 128;
    public static final int BOOT_ENTRY_SIZE = 20;
    public static final int PVH_ENTRY_SIZE = 24;

    private final List<E820Entry> entries;

    private E820Map(List<E820Entry> entries) {
        this.entries = List.copyOf(entries);
    }

    /**
     * The standard jkvm map for {@code ramSize} bytes of RAM laid out by {@link RamLayout}:
     * usable [0, EBDA), reserved [EBDA, 1 MiB) (BIOS area, holds the ACPI tables at 0xE0000),
     * usable [1 MiB, low RAM end), usable [4 GiB, ...) for the rest.
     */
    public static E820Map forRam(long ramSize) {
        Builder b = new Builder();
        b.add(0, Layout.EBDA_START, E820Entry.RAM);
        b.add(Layout.EBDA_START, Layout.KERNEL_START - Layout.EBDA_START, E820Entry.RESERVED);
        for (RamLayout.Range r : RamLayout.ranges(ramSize)) {
            long start = Math.max(r.start(), Layout.KERNEL_START);
            if (r.end() > start) {
                b.add(start, r.end() - start, E820Entry.RAM);
            }
        }
        return b.build();
    }

    public List<E820Entry> entries() {
        return entries;
    }

    public int size() {
        return entries.size();
    }

    /** Whether [addr, addr+len) lies entirely inside one entry of {@code type}. */
    public boolean covers(long addr, long len, int type) {
        for (E820Entry e : entries) {
            if (e.type() == type && addr >= e.addr() && len >= 0 && addr - e.addr() <= e.size() - len) {
                return true;
            }
        }
        return false;
    }

    /** The boot_params form: packed struct boot_e820_entry[], 20 bytes each. */
    public byte[] toBootParamsTable() {
        if (entries.size() > MAX_ZERO_PAGE_ENTRIES) {
            throw new IllegalStateException("e820 map has " + entries.size()
                    + " entries; the zero page holds at most " + MAX_ZERO_PAGE_ENTRIES);
        }
        ByteBuffer b = ByteBuffer.allocate(entries.size() * BOOT_ENTRY_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        for (E820Entry e : entries) {
            b.putLong(e.addr()).putLong(e.size()).putInt(e.type());
        }
        return b.array();
    }

    /** The PVH form: struct hvm_memmap_table_entry[] (addr, size, type, reserved=0), 24 bytes each. */
    public byte[] toPvhMemmap() {
        ByteBuffer b = ByteBuffer.allocate(entries.size() * PVH_ENTRY_SIZE).order(ByteOrder.LITTLE_ENDIAN);
        for (E820Entry e : entries) {
            b.putLong(e.addr()).putLong(e.size()).putInt(e.type()).putInt(0);
        }
        return b.array();
    }

    /** Collects ranges, then sorts, rejects overlaps and merges touching same-type neighbours. */
    public static final class Builder {
        private final List<E820Entry> pending = new ArrayList<>();

        public Builder add(long addr, long size, int type) {
            pending.add(new E820Entry(addr, size, type));
            return this;
        }

        public E820Map build() {
            List<E820Entry> sorted = new ArrayList<>(pending);
            sorted.sort(Comparator.comparingLong(E820Entry::addr));
            List<E820Entry> out = new ArrayList<>();
            for (E820Entry e : sorted) {
                if (!out.isEmpty()) {
                    E820Entry last = out.getLast();
                    if (e.addr() < last.end()) {
                        throw new IllegalArgumentException(String.format(
                                "e820 ranges overlap: [0x%x, 0x%x) and [0x%x, 0x%x)",
                                last.addr(), last.end(), e.addr(), e.end()));
                    }
                    if (e.addr() == last.end() && e.type() == last.type()) {
                        out.set(out.size() - 1, new E820Entry(last.addr(), last.size() + e.size(), e.type()));
                        continue;
                    }
                }
                out.add(e);
            }
            return new E820Map(Collections.unmodifiableList(out));
        }
    }
}
