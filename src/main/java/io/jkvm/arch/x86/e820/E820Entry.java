package io.jkvm.arch.x86.e820;

/**
 * One memory-map entry, as in struct boot_e820_entry (asm/bootparam.h: addr u64, size u64,
 * type u32 = 20 bytes packed) and struct hvm_memmap_table_entry (Xen start_info.h: the same plus
 * a reserved u32 = 24 bytes). The type codes are shared by both (ACPI 6.4 §15, Table 15.1).
 */
public record E820Entry(long addr, long size, int type) {
    public static final int RAM = 1;
    public static final int RESERVED = 2;
    public static final int ACPI = 3;
    public static final int NVS = 4;
    public static final int UNUSABLE = 5;

    public E820Entry {
        if (addr < 0 || size <= 0 || addr + size < addr || addr + size < 0) {
            throw new IllegalArgumentException(
                    String.format("bad e820 range addr=0x%x size=0x%x", addr, size));
        }
        if (type < RAM || type > UNUSABLE) {
            throw new IllegalArgumentException("bad e820 type " + type);
        }
    }

    /** Exclusive end address. */
    public long end() {
        return addr + size;
    }
}
