package io.jkvm.memory;

import io.jkvm.kvm.Native;

import java.io.IOException;
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
            if (!Native.madvise(r.host(), Native.MADV_MERGEABLE)) {
                throw new IllegalStateException("--ksm: madvise(MADV_MERGEABLE) on guest RAM was refused"
                        + " (a host kernel without KSM, CONFIG_KSM)");
            }
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
