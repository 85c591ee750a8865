package io.jkvm.arch.x86.cpu;

import io.jkvm.arch.x86.Layout;
import io.jkvm.memory.GuestMemory;

/**
 * The boot GDT at {@link Layout#BOOT_GDT}, four entries (0x500-0x51F, right up to the boot IDT):
 * <pre>
 *   0x00 null
 *   0x08 flat 32-bit code  0x00cf9b000000ffff  (PVH entry, pvh.pandoc)
 *   0x10 flat 64-bit code  0x00af9b000000ffff  (Linux __BOOT_CS, boot.rst 64-bit protocol)
 *   0x18 flat data         0x00cf93000000ffff  (Linux __BOOT_DS)
 * </pre>
 * No TSS descriptor: VM entry only needs TR's hidden state (SDM Vol. 3C §26.3.1.2 checks the
 * selector's TI bit, not the GDT), and both kernels install their own GDT and TSS immediately.
 */
public final class BootGdt {
    private BootGdt() {}

    public static final long NULL = 0;
    public static final long CODE32 = 0x00cf_9b00_0000_ffffL;
    public static final long CODE64 = 0x00af_9b00_0000_ffffL;
    public static final long DATA = 0x00cf_9300_0000_ffffL;
    public static final int CODE32_SELECTOR = 0x08;
    public static final int CODE64_SELECTOR = 0x10;
    public static final int DATA_SELECTOR = 0x18;
    public static final long[] ENTRIES = {NULL, CODE32, CODE64, DATA};
    public static final int LIMIT = ENTRIES.length * 8 - 1;
    /** The boot IDT: one zero entry (interrupts stay disabled until the kernel loads its own). */
    public static final int IDT_LIMIT = 7;

    static {
        if (Layout.BOOT_GDT + LIMIT + 1 > Layout.BOOT_IDT) {
            throw new AssertionError("boot GDT overlaps the boot IDT");
        }
    }

    public static DescriptorTable gdtr() {
        return new DescriptorTable(Layout.BOOT_GDT, LIMIT);
    }

    public static DescriptorTable idtr() {
        return new DescriptorTable(Layout.BOOT_IDT, IDT_LIMIT);
    }

    /** Writes the GDT and the (zero) IDT. */
    public static void write(GuestMemory mem) {
        for (int i = 0; i < ENTRIES.length; i++) {
            mem.writeLong(Layout.BOOT_GDT + 8L * i, ENTRIES[i]);
        }
        mem.fill(Layout.BOOT_IDT, IDT_LIMIT + 1, (byte) 0);
    }

    public static Segment segment(int selector) {
        return Segment.fromDescriptor(ENTRIES[selector >> 3], selector);
    }
}
