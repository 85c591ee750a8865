package io.jkvm.arch.x86.acpi;

import io.jkvm.arch.x86.Layout;
import io.jkvm.arch.x86.VirtioMmioWindow;
import io.jkvm.memory.GuestMemory;
import java.util.List;

/**
 * Lays out and writes the whole ACPI table set in [{@link Layout#ACPI_START}, {@link Layout#ACPI_END}):
 * RSDP first (16-byte aligned, where legacy scans of 0xE0000-0xFFFFF find it), then XSDT, FADT,
 * MADT and DSDT, each 64-byte aligned. The XSDT lists FADT and MADT; the FADT points to the DSDT.
 */
public final class AcpiTables {
    private AcpiTables() {}

    static final int ALIGN = 64;

    /** Addresses of the tables written, for logging and tests. */
    public record Written(long rsdp, long xsdt, long fadt, long madt, long dsdt, long end) {}

    /** Writes all tables for {@code vcpus} CPUs and no virtio-mmio devices (a PCI VM). */
    public static Written write(GuestMemory mem, int vcpus) {
        return write(mem, vcpus, List.of());
    }

    /**
     * Writes all tables for {@code vcpus} CPUs and the virtio-mmio devices {@code virtioMmio} (in
     * attach order; empty for a PCI VM); returns their addresses ({@code rsdp()} goes to the OS).
     */
    public static Written write(GuestMemory mem, int vcpus, List<VirtioMmioWindow> virtioMmio) {
        byte[] madt = Madt.build(vcpus, virtioMmio);
        byte[] dsdt = Dsdt.build(virtioMmio);
        long rsdpAt = Layout.ACPI_START;
        long xsdtAt = align(rsdpAt + Rsdp.SIZE);
        long xsdtLen = AcpiTable.HEADER_SIZE + 2 * 8;
        long fadtAt = align(xsdtAt + xsdtLen);
        long madtAt = align(fadtAt + Fadt.LENGTH);
        long dsdtAt = align(madtAt + madt.length);
        long end = dsdtAt + dsdt.length;
        if (end > Layout.ACPI_END) {
            throw new IllegalStateException(String.format("ACPI tables end at 0x%x, beyond 0x%x", end, Layout.ACPI_END));
        }
        byte[] xsdt = Xsdt.build(List.of(fadtAt, madtAt));
        mem.fill(Layout.ACPI_START, Layout.ACPI_END - Layout.ACPI_START, (byte) 0);
        mem.write(rsdpAt, Rsdp.build(xsdtAt));
        mem.write(xsdtAt, xsdt);
        mem.write(fadtAt, Fadt.build(dsdtAt));
        mem.write(madtAt, madt);
        mem.write(dsdtAt, dsdt);
        return new Written(rsdpAt, xsdtAt, fadtAt, madtAt, dsdtAt, end);
    }

    private static long align(long v) {
        return (v + ALIGN - 1) & -ALIGN;
    }
}
