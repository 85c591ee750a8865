package io.jkvm.arch.x86.cpu;

import io.jkvm.arch.x86.Layout;
import io.jkvm.memory.GuestMemory;

/**
 * Identity page tables for the 64-bit boot protocol, which requires paging on with the kernel,
 * zero page and command line identity-mapped (boot.rst "64-bit Boot Protocol"). Maps the whole
 * first 4 GiB with 2 MiB pages: PML4[0] -&gt; PDPT, PDPT[0..3] -&gt; four PDs, 2048 PD entries with
 * flags 0x83 (present, writable, PS). Format: Intel SDM Vol. 3A §4.5 (4-level paging).
 */
public final class PageTables {
    private PageTables() {}

    public static final long PRESENT_RW = 0x3;
    public static final long PDE_2M = 0x83;
    public static final int PDS = 4;
    public static final long PAGE = 4096;

    public static void write(GuestMemory mem) {
        mem.fill(Layout.PML4, PAGE, (byte) 0);
        mem.fill(Layout.PDPT, PAGE, (byte) 0);
        mem.writeLong(Layout.PML4, Layout.PDPT | PRESENT_RW);
        for (int i = 0; i < PDS; i++) {
            long pd = Layout.PD + i * PAGE;
            mem.writeLong(Layout.PDPT + 8L * i, pd | PRESENT_RW);
            for (int j = 0; j < 512; j++) {
                long addr = ((long) i << 30) | ((long) j << 21);
                mem.writeLong(pd + 8L * j, addr | PDE_2M);
            }
        }
    }

    /** CR3 value: the PML4's address (no PCID, no PWT/PCD). */
    public static long cr3() {
        return Layout.PML4;
    }
}
