package io.jkvm.device.display;

import io.jkvm.kvm.Native;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * A display's video memory: host memory the guest reaches through the device's framebuffer BAR
 * (KVM maps it into the guest directly, so pixel stores never leave the guest) and the host
 * reads pixels from. Its size comes from the VM's configuration, never from the guest.
 */
public final class Vram implements AutoCloseable {
    public static final long PAGE = 4096;

    private final MemorySegment memory;
    /** Owns the mapping (null for {@link #over}): closing it unmaps, and later reads fail instead of crashing. */
    private final Arena arena;

    private Vram(MemorySegment memory, Arena arena) {
        if (memory.byteSize() <= 0 || memory.byteSize() % PAGE != 0) {
            throw new IllegalArgumentException("VRAM must be a positive number of 4 KiB pages: " + memory.byteSize());
        }
        this.memory = memory;
        this.arena = arena;
    }

    /**
     * {@code bytes} of zeroed anonymous memory, reserved lazily (MAP_NORESERVE: untouched pages
     * cost nothing), page aligned as KVM memory slots require, left out of core dumps.
     */
    public static Vram allocate(long bytes) {
        MemorySegment m = Native.mmap(0, bytes, Native.PROT_READ | Native.PROT_WRITE,
                Native.MAP_PRIVATE | Native.MAP_ANONYMOUS | Native.MAP_NORESERVE, -1, 0);
        Native.madvise(m, Native.MADV_DONTDUMP);
        // A shared arena's close is safe against display clients still reading (they get an
        // IllegalStateException, never a fault on unmapped memory); it runs the munmap.
        Arena arena = Arena.ofShared();
        return new Vram(m.reinterpret(bytes, arena, ignored -> Native.munmap(m)), arena);
    }

    /** VRAM over memory the caller owns (tests: a plain segment stands in for guest-mapped memory). */
    public static Vram over(MemorySegment memory) {
        return new Vram(memory, null);
    }

    public MemorySegment memory() {
        return memory;
    }

    public long size() {
        return memory.byteSize();
    }

    public int pages() {
        return (int) (memory.byteSize() / PAGE);
    }

    /** Unmaps VRAM this class allocated (after the machine that mapped it into a guest is gone); idempotent. */
    @Override
    public synchronized void close() {
        if (arena != null && arena.scope().isAlive()) {
            arena.close();
        }
    }
}
