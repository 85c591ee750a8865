package io.jkvm.memory;

import io.jkvm.kvm.Native;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Kernel same-page merging for one VM's RAM (admin-guide/mm/ksm.rst): MADV_MERGEABLE lets the
 * host's ksmd share identical pages between guests, trading CPU for memory density. Off unless a
 * VM asks: pages shared across VMs are a timing side channel between them (a write to a merged
 * page takes a copy-on-write fault another guest can observe), which is why Firecracker's
 * production guidance leaves it off too.
 */
public final class Ksm {
    private static final Path RUN = Path.of("/sys/kernel/mm/ksm/run");

    private Ksm() {}

    /**
     * Marks every region of {@code memory} mergeable.
     *
     * @throws IllegalStateException when the host kernel refuses (built without KSM: EINVAL)
     */
    public static void enable(GuestMemory memory) {
        for (GuestMemory.Region r : memory.regions()) {
            markMergeable(r.host());
        }
    }

    /**
     * Marks one mapping of guest RAM mergeable.
     *
     * @throws IllegalStateException when the host kernel refuses (built without KSM: EINVAL)
     */
    static void markMergeable(MemorySegment mapping) {
        if (!Native.madvise(mapping, Native.MADV_MERGEABLE)) {
            throw new IllegalStateException("--ksm: madvise(MADV_MERGEABLE) on guest RAM was refused"
                    + " (a host kernel without KSM, CONFIG_KSM)");
        }
    }

    /**
     * Refuses a RAM backing KSM cannot merge: ksmd scans only private anonymous pages, and hugetlb
     * pages are neither (admin-guide/mm/ksm.rst).
     *
     * @throws IllegalArgumentException naming the setting
     */
    public static void requireMergeable(RamBacking backing) {
        if (backing == RamBacking.HUGETLB_2M) {
            throw new IllegalArgumentException("ksm: KSM does not merge hugetlb pages (huge_pages 2M); use None or Transparent");
        }
    }

    /** Whether the host's ksmd merges now ({@code /sys/kernel/mm/ksm/run} is 1); false when unknown. */
    public static boolean hostMerging() {
        try {
            return Files.readString(RUN).strip().equals("1");
        } catch (IOException e) {
            return false;
        }
    }
}
