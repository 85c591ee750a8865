package io.jkvm.memory;

import io.jkvm.kvm.Native;

import java.lang.foreign.MemorySegment;

/**
 * Gives host memory behind guest RAM back to the host (what a balloon inflate does). How depends
 * on the mapping {@link GuestRam} made:
 * <ul>
 *   <li>private RAM (the default anonymous RAM, a restored snapshot's private file mapping)
 *       refuses MADV_REMOVE; MADV_DONTNEED drops the private copies (anonymous pages then read as
 *       zeros, a snapshot's pages as the memory file has them: either way the guest gave them up);</li>
 *   <li>shared memory (shmem) would keep its pages under MADV_DONTNEED, which drops only the page
 *       table entries: MADV_REMOVE frees them (madvise(2)), so it is tried first;</li>
 *   <li>hugetlb RAM cannot be freed in 4 KiB pieces: both calls fail and the range stays (as
 *       Firecracker, docs/hugepages.md: the balloon still limits the guest, not the host).</li>
 * </ul>
 */
public final class HostPages {
    private HostPages() {}

    /** Releases {@code range} (page aligned); false when the kernel refused both ways. */
    public static boolean release(MemorySegment range) {
        return Native.madvise(range, Native.MADV_REMOVE) || Native.madvise(range, Native.MADV_DONTNEED);
    }
}
