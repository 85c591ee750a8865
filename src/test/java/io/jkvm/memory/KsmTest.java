package io.jkvm.memory;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * --ksm: guest RAM becomes private anonymous memory marked mergeable (smaps shows "mg" and no
 * "sh"), since KSM merges only private anonymous pages; RAM that did not ask stays as it was.
 */
class KsmTest {
    @Test
    void guestRamBecomesMergeableOnlyWhenAsked() throws Exception {
        try (GuestRam plain = GuestRam.allocate(4 << 20, RamBacking.PAGES);
             GuestRam merged = GuestRam.allocate(4 << 20, RamBacking.PAGES, true)) {
            assertThat(flags(merged)).as("VmFlags of the merged RAM").contains("mg").doesNotContain("sh");
            assertThat(flags(plain)).as("VmFlags of RAM that did not ask").doesNotContain("mg");
        }
    }

    @Test
    void hugetlbRamCannotBeMergeable() {
        assertThatThrownBy(() -> GuestRam.allocate(4 << 20, RamBacking.HUGETLB_2M, true))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("ksm: KSM does not merge hugetlb pages");
    }

    /** The VmFlags words of the smaps entry that starts at the RAM's first region. */
    private static List<String> flags(GuestRam ram) throws Exception {
        long start = ram.memory().regions().getFirst().host().address();
        String head = Long.toHexString(start) + "-";
        List<String> lines = Files.readAllLines(Path.of("/proc/self/smaps"));
        for (int i = 0; i < lines.size(); i++) {
            if (lines.get(i).startsWith(head)) {
                for (int j = i + 1; j < lines.size(); j++) {
                    if (lines.get(j).startsWith("VmFlags:")) {
                        return List.of(lines.get(j).substring("VmFlags:".length()).strip().split("\\s+"));
                    }
                }
            }
        }
        throw new AssertionError("no smaps entry starts at " + head);
    }
}
