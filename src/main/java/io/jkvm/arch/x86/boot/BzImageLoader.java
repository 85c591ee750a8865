package io.jkvm.arch.x86.boot;

import io.jkvm.arch.x86.Layout;
import io.jkvm.memory.GuestMemory;

/**
 * Loads a bzImage for the 64-bit boot protocol (boot.rst, "64-bit Boot Protocol"): the
 * protected-mode part (everything after the setup sectors) goes to {@link Layout#KERNEL_START};
 * the 64-bit entry point is 0x200 bytes into it. The real-mode setup code is not loaded: only its
 * header is needed, and that goes into boot_params.
 */
public final class BzImageLoader {
    private BzImageLoader() {}

    /** boot.rst: "the 64-bit entry point is ... the loaded protected-mode kernel + 0x200". */
    public static final long ENTRY64_OFFSET = 0x200;

    /**
     * @param header the parsed, validated setup header
     * @param loadAddress where the protected-mode kernel was written
     * @param entry64 guest-physical 64-bit entry point (RIP at boot)
     * @param kernelEnd end of the kernel's boot-time footprint (decompression buffer), where the
     *     initrd may start at the earliest
     */
    public record Loaded(SetupHeader header, long loadAddress, long entry64, long kernelEnd) {}

    /**
     * Validates {@code image} for 64-bit boot and copies its protected-mode part into guest RAM.
     *
     * @param lowRamEnd end of the RAM range starting at 0 (the kernel must run below it)
     */
    public static Loaded load(GuestMemory mem, byte[] image, long lowRamEnd) {
        SetupHeader h = SetupHeader.parse(image);
        h.requireBootable64();
        long load = Layout.KERNEL_START;
        long end = kernelEnd(h, load);
        long pmSize = h.protectedModeSize();
        if (end > lowRamEnd || load + pmSize > lowRamEnd) {
            throw new BootException(String.format(
                    "kernel does not fit in guest RAM: it needs memory up to 0x%x (%d MiB: pref_address 0x%x"
                            + " + init_size 0x%x) but RAM below the 32-bit hole ends at 0x%x (%d MiB)",
                    Math.max(end, load + pmSize), (Math.max(end, load + pmSize) + (1 << 20) - 1) >> 20,
                    h.prefAddress(), h.initSize(), lowRamEnd, lowRamEnd >> 20));
        }
        mem.write(load, image, (int) h.setupSize(), (int) pmSize);
        return new Loaded(h, load, load + ENTRY64_OFFSET, end);
    }

    /**
     * Where the kernel's boot-time footprint ends. The decompressor runs from
     * max(load address rounded up to kernel_alignment, pref_address) and uses init_size bytes from
     * there (boot.rst "init_size"; arch/x86/boot/compressed/head_64.S picks that start for relocatable
     * kernels, non-relocatable ones always run at pref_address).
     */
    static long kernelEnd(SetupHeader h, long load) {
        if (h.prefAddress() < 0 || h.prefAddress() > Layout.FOUR_GIB) {
            throw new KernelFormatException(String.format(
                    "kernel pref_address 0x%x at 0x258 is not below 4 GiB", h.prefAddress()));
        }
        long base = load;
        long align = h.kernelAlignment();
        if (h.relocatableKernel() && align > 0 && align <= (1L << 30) && Long.bitCount(align) == 1) {
            base = (load + align - 1) & -align;
        }
        base = Math.max(base, h.prefAddress());
        return base + h.initSize();
    }
}
