package io.jkvm.memory;

import io.jkvm.arch.x86.Layout;
import io.jkvm.kvm.Native;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Allocates guest RAM as private anonymous mappings (hugetlb pages: shared) and lays it out
 * around the 32-bit device hole: RAM up to {@link Layout#MMIO32_START} sits at 0, the rest above
 * 4 GiB.
 *
 * <p>MAP_NORESERVE: RAM the guest never touches costs the host nothing. The mappings live
 * until {@link #close()}; they are never handed to the garbage collector.
 */
public final class GuestRam implements AutoCloseable {
    private final GuestMemory memory;
    private final List<MemorySegment> mappings;
    private LazyFill fill;
    /** Why this RAM cannot be filled on first touch, or null (private anonymous 4 KiB or THP pages). */
    private final String notFillable;

    private GuestRam(GuestMemory memory, List<MemorySegment> mappings, String notFillable) {
        this.memory = memory;
        this.mappings = mappings;
        this.notFillable = notFillable;
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

    public static GuestRam allocate(long ramBytes, RamBacking backing) {
        return allocate(ramBytes, backing, false);
    }

    /**
     * As {@link #allocate(long, RamBacking)}; {@code mergeable}: the private anonymous pages are
     * marked MADV_MERGEABLE for the host's KSM. Not with hugetlb pages, which KSM skips.
     */
    public static GuestRam allocate(long ramBytes, RamBacking backing, boolean mergeable) {
        if (mergeable) {
            Ksm.requireMergeable(backing);
        }
        if (ramBytes <= 0 || (ramBytes & 0xfff) != 0) {
            throw new IllegalArgumentException("guest RAM size must be a positive multiple of 4 KiB: " + ramBytes);
        }
        if (backing == RamBacking.HUGETLB_2M && ramBytes % RamBacking.HUGE_PAGE != 0) {
            throw new IllegalArgumentException("guest RAM on 2 MiB pages must be a multiple of 2 MiB: " + ramBytes);
        }
        List<MemorySegment> maps = new ArrayList<>();
        List<GuestMemory.Region> regions = new ArrayList<>();
        try {
            for (long[] r : layout(ramBytes)) {
                // Private anonymous memory, as QEMU's default: KSM merges only such pages, and
                // MADV_HUGEPAGE follows the host's transparent_hugepage/enabled ("madvise" is the
                // usual default). A shared anonymous mapping is shmem, whose huge pages follow
                // shmem_enabled instead, "never" by default: Transparent did nothing there.
                // hugetlb: no MAP_NORESERVE, so the pages are reserved now and a short pool fails
                // this mmap (ENOMEM) instead of the guest's first touch (SIGBUS).
                int flags = backing == RamBacking.HUGETLB_2M ? Native.MAP_SHARED | Native.MAP_ANONYMOUS | Native.MAP_HUGETLB
                        : Native.MAP_PRIVATE | Native.MAP_ANONYMOUS | Native.MAP_NORESERVE;
                MemorySegment m;
                try {
                    m = Native.mmap(0, r[1], Native.PROT_READ | Native.PROT_WRITE, flags, -1, 0);
                } catch (io.jkvm.kvm.NativeException e) {
                    if (backing == RamBacking.HUGETLB_2M) {
                        throw new IllegalStateException("guest RAM on 2 MiB huge pages: " + e.getMessage() + " ("
                                + java.util.Objects.requireNonNullElse(HugePagePool.shortfall(ramBytes), "the pool is short") + ")");
                    }
                    throw e;
                }
                maps.add(m);
                // Guest RAM is the guest's, not ours: keep it out of VMM core dumps.
                Native.madvise(m, Native.MADV_DONTDUMP);
                if (backing == RamBacking.TRANSPARENT) {
                    Native.madvise(m, Native.MADV_HUGEPAGE);
                }
                if (mergeable) {
                    Ksm.markMergeable(m);
                }
                regions.add(new GuestMemory.Region(r[0], m));
            }
        } catch (RuntimeException e) {
            maps.forEach(Native::munmap);
            throw e;
        }
        // A lazy fill copies and drops 4 KiB pages; hugetlb pages move only whole (UFFDIO_COPY of 2 MiB).
        return new GuestRam(new GuestMemory(regions), maps, backing == RamBacking.HUGETLB_2M
                ? "guest RAM on 2 MiB hugetlb pages cannot be filled in chunks on first touch" : null);
    }

    /**
     * Maps guest RAM from {@code file}, which holds the regions of {@link #layout(long)} one after
     * another (a snapshot memory file). MAP_PRIVATE: the guest's writes go to private copies of
     * the pages and never reach the file; pages are read from the file on first touch, so the
     * cost of mapping does not grow with the guest size. The file must be exactly
     * {@code ramBytes} long (the caller has checked its authenticity).
     */
    public static GuestRam mapPrivate(java.nio.file.Path file, long ramBytes) {
        if (ramBytes <= 0 || (ramBytes & 0xfff) != 0) {
            throw new IllegalArgumentException("guest RAM size must be a positive multiple of 4 KiB: " + ramBytes);
        }
        int fd = Native.open(file.toString(), Native.O_RDONLY | Native.O_CLOEXEC);
        List<MemorySegment> maps = new ArrayList<>();
        List<GuestMemory.Region> regions = new ArrayList<>();
        try {
            long offset = 0;
            for (long[] r : layout(ramBytes)) {
                int flags = Native.MAP_PRIVATE | Native.MAP_NORESERVE;
                MemorySegment m = Native.mmap(0, r[1], Native.PROT_READ | Native.PROT_WRITE, flags, fd, offset);
                maps.add(m);
                Native.madvise(m, Native.MADV_DONTDUMP);
                regions.add(new GuestMemory.Region(r[0], m));
                offset += r[1];
            }
        } catch (RuntimeException e) {
            maps.forEach(Native::munmap);
            throw e;
        } finally {
            Native.close(fd); // the mappings keep the file open
        }
        return new GuestRam(new GuestMemory(regions), maps, "guest RAM mapped from a file is filled by the file");
    }

    public GuestMemory memory() {
        return memory;
    }

    /**
     * Fills this RAM (fresh from {@link #allocate(long, RamBacking)} with {@link RamBacking#PAGES},
     * nothing touched yet) from {@code source} on first touch, and ahead of any touch with
     * {@code ahead}; see {@link LazyFill}. Throws
     * when the host cannot, leaving this RAM untouched and the source open.
     */
    public LazyFill fillLazily(int chunkSize, LazyFill.ChunkSource source, boolean ahead,
            java.util.function.Consumer<Exception> onFailure) {
        return fillLazily(chunkSize, source, ahead, onFailure, null);
    }

    /** As above, for RAM whose chunks outside {@code missing} hold their bytes already (see {@link LazyFill}). */
    public synchronized LazyFill fillLazily(int chunkSize, LazyFill.ChunkSource source, boolean ahead,
            java.util.function.Consumer<Exception> onFailure, java.util.BitSet missing) {
        requireFillable();
        if (fill != null) {
            throw new IllegalStateException("this RAM is being filled already");
        }
        fill = LazyFill.start(memory, chunkSize, source, ahead, onFailure, missing);
        return fill;
    }

    /** Throws, saying why, if this RAM's backing cannot be filled on first touch ({@link LazyFill}). */
    public void requireFillable() {
        if (notFillable != null) {
            throw new IllegalStateException(notFillable);
        }
    }

    /** Unmaps the RAM, after stopping a lazy fill. */
    @Override
    public synchronized void close() {
        try {
            if (fill != null) {
                fill.stop();
            }
        } finally {
            mappings.forEach(Native::munmap);
            mappings.clear();
        }
    }
}
