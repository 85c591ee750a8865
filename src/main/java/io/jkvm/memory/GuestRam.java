package io.jkvm.memory;

import io.jkvm.arch.x86.Layout;
import io.jkvm.kvm.Native;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Allocates guest RAM as anonymous shared mappings and lays it out around the 32-bit device
 * hole: RAM up to {@link Layout#MMIO32_START} sits at 0, the rest above 4 GiB.
 *
 * <p>MAP_NORESERVE: RAM the guest never touches costs the host nothing. The mappings live
 * until {@link #close()}; they are never handed to the garbage collector.
 */
public final class GuestRam implements AutoCloseable {
    private final GuestMemory memory;
    private final List<MemorySegment> mappings;

    private GuestRam(GuestMemory memory, List<MemorySegment> mappings) {
        this.memory = memory;
        this.mappings = mappings;
    }

    /** The split of {@code ramBytes} into guest-physical ranges: [start, size] pairs. */
    public static List<long[]> layout(long ramBytes) {
        List<long[]> out = new ArrayList<>();
        long low = Math.min(ramBytes, Layout.MMIO32_START);
        out.add(new long[] {0, low});
        if (ramBytes > low) {
            out.add(new long[] {Layout.FOUR_GIB, ramBytes - low});
        }
        return out;
    }

    public static GuestRam allocate(long ramBytes, boolean hugepages) {
        if (ramBytes <= 0 || (ramBytes & 0xfff) != 0) {
            throw new IllegalArgumentException("guest RAM size must be a positive multiple of 4 KiB: " + ramBytes);
        }
        List<MemorySegment> maps = new ArrayList<>();
        List<GuestMemory.Region> regions = new ArrayList<>();
        try {
            for (long[] r : layout(ramBytes)) {
                int flags = Native.MAP_SHARED | Native.MAP_ANONYMOUS | Native.MAP_NORESERVE;
                MemorySegment m = Native.mmap(0, r[1], Native.PROT_READ | Native.PROT_WRITE, flags, -1, 0);
                maps.add(m);
                // Guest RAM is the guest's, not ours: keep it out of VMM core dumps.
                Native.madvise(m, Native.MADV_DONTDUMP);
                if (hugepages) {
                    Native.madvise(m, Native.MADV_HUGEPAGE);
                }
                regions.add(new GuestMemory.Region(r[0], m));
            }
        } catch (RuntimeException e) {
            maps.forEach(Native::munmap);
            throw e;
        }
        return new GuestRam(new GuestMemory(regions), maps);
    }

    public GuestMemory memory() {
        return memory;
    }

    @Override
    public void close() {
        mappings.forEach(Native::munmap);
        mappings.clear();
    }
}
