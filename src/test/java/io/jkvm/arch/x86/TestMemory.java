package io.jkvm.arch.x86;

import io.jkvm.memory.GuestMemory;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

/** Guest memory for tests, laid out exactly as {@link RamLayout} says (zero-filled). */
public final class TestMemory {
    private TestMemory() {}

    public static GuestMemory of(long ramSize) {
        List<GuestMemory.Region> regions = new ArrayList<>();
        for (RamLayout.Range r : RamLayout.ranges(ramSize)) {
            regions.add(new GuestMemory.Region(r.start(), Arena.ofAuto().allocate(r.size())));
        }
        return new GuestMemory(regions);
    }

    /** One flat region [0, size), for tests that do not care about the 32-bit hole. */
    public static GuestMemory flat(long size) {
        return new GuestMemory(List.of(new GuestMemory.Region(0, Arena.ofAuto().allocate(size))));
    }
}
