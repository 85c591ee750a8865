package io.jkvm.arch.x86;

import java.util.ArrayList;
import java.util.List;

/**
 * Where a given amount of guest RAM lives in guest-physical space: one range from 0 up to the
 * 32-bit device hole ({@link Layout#MMIO32_START}), and whatever does not fit there from 4 GiB up.
 * The VMM backs exactly these ranges with host memory; the e820 map and the loaders derive from
 * the same ranges, so they always agree.
 */
public final class RamLayout {
    private RamLayout() {}

    /** Smallest RAM we can boot anything in: low memory plus a little above 1 MiB. */
    public static final long MIN_RAM = 2L << 20;
    public static final long PAGE = 4096;

    /** One contiguous range of guest RAM. */
    public record Range(long start, long size) {
        public long end() {
            return start + size;
        }
    }

    /** The RAM ranges for {@code ramSize} bytes of RAM; validates the size. */
    public static List<Range> ranges(long ramSize) {
        validate(ramSize);
        List<Range> out = new ArrayList<>(2);
        long low = lowRamEnd(ramSize);
        out.add(new Range(0, low));
        if (ramSize > low) {
            out.add(new Range(Layout.FOUR_GIB, ramSize - low));
        }
        return List.copyOf(out);
    }

    /** End (exclusive) of the RAM range that starts at 0, i.e. min(ram, start of the 32-bit hole). */
    public static long lowRamEnd(long ramSize) {
        return Math.min(ramSize, Layout.MMIO32_START);
    }

    public static void validate(long ramSize) {
        if (ramSize < MIN_RAM) {
            throw new IllegalArgumentException(String.format(
                    "RAM size %d bytes is below the minimum of %d MiB", ramSize, MIN_RAM >> 20));
        }
        if (ramSize % PAGE != 0) {
            throw new IllegalArgumentException("RAM size " + ramSize + " is not a multiple of 4 KiB");
        }
        if (ramSize > (1L << 46)) {
            throw new IllegalArgumentException("RAM size " + ramSize + " exceeds 64 TiB");
        }
    }
}
