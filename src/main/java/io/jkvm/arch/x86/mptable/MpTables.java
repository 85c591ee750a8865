package io.jkvm.arch.x86.mptable;

import io.jkvm.arch.x86.Layout;
import io.jkvm.arch.x86.VirtioMmioWindow;
import io.jkvm.memory.GuestMemory;

import java.util.List;

/**
 * Puts the MP tables in guest memory: the floating pointer at the start of the EBDA
 * ({@link Layout#EBDA_START}, the last KiB of base memory, which Linux searches), and the
 * configuration table, which may be longer than that KiB (20 bytes per CPU), after the ACPI
 * tables in the reserved BIOS area. Both regions are reserved in the e820 map.
 */
public final class MpTables {
    private MpTables() {}

    /** Where the tables went. */
    public record Written(long pointer, long table, long end) {}

    /**
     * Writes the tables for {@code vcpus} CPUs and the virtio-mmio devices {@code virtioMmio}, the
     * configuration table at the first 16-byte boundary at or after {@code freeFrom}.
     *
     * @throws IllegalStateException if the table would not end below {@link Layout#ACPI_END}
     */
    public static Written write(GuestMemory mem, int vcpus, List<VirtioMmioWindow> virtioMmio, long freeFrom) {
        byte[] table = MpTable.build(vcpus, virtioMmio);
        long at = (freeFrom + 15) & -16L;
        long end = at + table.length;
        if (at < Layout.ACPI_START || end > Layout.ACPI_END) {
            throw new IllegalStateException(String.format("MP configuration table [0x%x, 0x%x) is outside [0x%x, 0x%x)",
                    at, end, Layout.ACPI_START, Layout.ACPI_END));
        }
        mem.write(at, table);
        mem.write(Layout.EBDA_START, MpFloatingPointer.build(at));
        return new Written(Layout.EBDA_START, at, end);
    }
}
