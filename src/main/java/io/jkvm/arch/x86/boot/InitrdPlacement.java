package io.jkvm.arch.x86.boot;

import io.jkvm.arch.x86.Layout;

/**
 * Chooses where the initrd goes. Like common boot loaders, put it as high as allowed (so the
 * decompressing kernel below it has room): the highest page-aligned start such that the initrd
 * ends at or below min(initrd_addr_max + 1, end of RAM below the 32-bit hole, 4 GiB), and starts
 * at or above the end of the kernel's run-time footprint (boot.rst, "initrd_addr_max" and the
 * sample boot configuration).
 */
public final class InitrdPlacement {
    private InitrdPlacement() {}

    static final long PAGE = 4096;

    /**
     * @param initrdSize bytes of initrd (&gt; 0)
     * @param kernelEnd first byte above everything the kernel occupies while booting
     * @param initrdAddrMax highest address the initrd may occupy (inclusive, as in the header)
     * @param lowRamEnd end of the RAM range starting at 0
     * @return the guest-physical start address
     */
    public static long place(long initrdSize, long kernelEnd, long initrdAddrMax, long lowRamEnd) {
        if (initrdSize <= 0) {
            throw new BootException("initrd is empty");
        }
        long ceiling = Math.min(Math.min(lowRamEnd, Layout.FOUR_GIB), initrdAddrMax + 1);
        long floor = alignUp(kernelEnd, PAGE);
        long start = (ceiling - initrdSize) & -PAGE;
        if (initrdSize > ceiling || start < floor) {
            throw new BootException(String.format(
                    "initrd of %d bytes (%d MiB) does not fit: it must lie between the kernel's end 0x%x"
                            + " and 0x%x (min of RAM below the 32-bit hole and the kernel's initrd_addr_max);"
                            + " give the guest more RAM or use a smaller initrd",
                    initrdSize, (initrdSize + (1 << 20) - 1) >> 20, floor, ceiling));
        }
        return start;
    }

    static long alignUp(long v, long align) {
        return (v + align - 1) & -align;
    }
}
