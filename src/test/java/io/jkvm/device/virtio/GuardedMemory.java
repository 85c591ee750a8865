package io.jkvm.device.virtio;

import io.jkvm.memory.GuestMemory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Test guest RAM: two regions, [0, 64 KiB) and [128 KiB, 192 KiB) (a hole between), each
 * surrounded in host memory by guard bytes that are not guest RAM. {@link #assertGuardsIntact}
 * proves nothing wrote outside guest RAM. {@link #GuardedMemory(long)} makes larger regions
 * ([0, n) and [2n, 3n)) for tests that need big buffers.
 */
public final class GuardedMemory implements AutoCloseable {
    public static final long REGION = 64 * 1024;
    public static final long LOW = 0;
    public static final long HIGH = 128 * 1024;
    private static final long GUARD = 16 * 1024;
    private static final byte PATTERN = (byte) 0xa5;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment[] backing = new MemorySegment[2];
    public final GuestMemory memory;

    private final long region;

    public GuardedMemory() {
        this(REGION);
    }

    public GuardedMemory(long regionSize) {
        region = regionSize;
        GuestMemory.Region[] regions = new GuestMemory.Region[2];
        long[] gpas = {LOW, 2 * regionSize};
        for (int i = 0; i < 2; i++) {
            backing[i] = arena.allocate(GUARD + regionSize + GUARD, 4096);
            backing[i].fill(PATTERN);
            MemorySegment ram = backing[i].asSlice(GUARD, regionSize);
            ram.fill((byte) 0);
            regions[i] = new GuestMemory.Region(gpas[i], ram);
        }
        memory = new GuestMemory(List.of(regions));
    }

    public void assertGuardsIntact() {
        for (MemorySegment b : backing) {
            for (long off : new long[] {0, GUARD + region}) {
                for (long i = 0; i < GUARD; i++) {
                    if (b.get(ValueLayout.JAVA_BYTE, off + i) != PATTERN) {
                        assertThat(i).as("guard byte at host offset %d was modified", off + i).isNegative();
                    }
                }
            }
        }
    }

    @Override
    public void close() {
        arena.close();
    }
}
