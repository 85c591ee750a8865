package io.jkvm.memory;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Unit: guest RAM on huge pages. The pool check reads /proc/meminfo's figures; a hugetlb mapping
 * reserves its pages when it is made (a short pool fails then, naming the pool), and transparent
 * huge pages are an madvise on ordinary RAM.
 */
class HugePagesTest {
    private static final String MEMINFO = """
            MemTotal:       24000000 kB
            HugePages_Total:      12
            HugePages_Free:       10
            HugePages_Rsvd:        2
            HugePages_Surp:        0
            Hugepagesize:       2048 kB
            """;

    @Test
    void thePoolCheckCountsFreePagesLessReservedOnes() {
        assertThat(HugePagePool.shortfall(MEMINFO, 16L << 20)).as("8 of 8 available").isNull();
        assertThat(HugePagePool.shortfall(MEMINFO, 18L << 20)).contains("8 free 2 MiB pages").contains("needs 9");
        assertThat(HugePagePool.shortfall(MEMINFO.replace("2048 kB", "1048576 kB"), 2L << 20))
                .contains("1048576 KiB, not 2048 KiB");
        assertThat(HugePagePool.shortfall("MemTotal: 1 kB\n", 2L << 20)).contains("unknown");
    }

    @Test
    void theApiNamesMapToBackings() {
        assertThat(RamBacking.fromApi(null)).isEqualTo(RamBacking.PAGES);
        assertThat(RamBacking.fromApi("2M")).isEqualTo(RamBacking.HUGETLB_2M);
        assertThat(RamBacking.fromApi("Transparent")).isEqualTo(RamBacking.TRANSPARENT);
        assertThatThrownBy(() -> RamBacking.fromApi("1G")).hasMessageContaining("huge_pages '1G'");
    }

    @Test
    void transparentHugePagesAreOrdinaryRamWithAdvice() {
        try (GuestRam ram = GuestRam.allocate(8L << 20, RamBacking.TRANSPARENT)) {
            ram.memory().writeByte(0x1000, (byte) 7);
            assertThat(ram.memory().readByte(0x1000)).isEqualTo((byte) 7);
        }
    }

    /**
     * The advice takes effect: touched Transparent RAM is backed by 2 MiB pages where the host's
     * transparent_hugepage/enabled allows it ("always" or "madvise"). Shared anonymous RAM would
     * follow shmem_enabled instead ("never" by default), and get none. When the kernel tried and
     * found no free 2 MiB page (thp_fault_fallback grew), the host is too fragmented to tell.
     */
    @Test
    void touchedTransparentRamIsBackedByHugePages() throws IOException {
        String enabled = Files.readString(Path.of("/sys/kernel/mm/transparent_hugepage/enabled"));
        assumeTrue(!enabled.contains("[never]"), "transparent huge pages are off on this host: " + enabled.strip());
        long fallbacksBefore = vmstat("thp_fault_fallback");
        try (GuestRam ram = GuestRam.allocate(8L << 20, RamBacking.TRANSPARENT)) {
            java.lang.foreign.MemorySegment host = ram.memory().regions().getFirst().host();
            for (long off = 0; off < host.byteSize(); off += 4096) {
                ram.memory().writeByte(off, (byte) 1);
            }
            long huge = io.jkvm.testing.OwnMapping.kib(host.address(), "AnonHugePages");
            assumeTrue(huge > 0 || vmstat("thp_fault_fallback") == fallbacksBefore,
                    "the kernel found no free 2 MiB page (thp_fault_fallback grew)");
            // An 8 MiB mapping holds at least three aligned 2 MiB ranges.
            assertThat(huge).as("AnonHugePages of the guest RAM mapping, KiB").isGreaterThanOrEqualTo(2048);
        }
    }

    private static long vmstat(String name) throws IOException {
        return value(Files.readString(Path.of("/proc/vmstat")).replace(name + " ", name + ":"), name + ":");
    }

    /** On this host's real pool: grown by 8 pages for the test (root), then put back. */
    @Test
    void aHugetlbMappingReservesItsPagesWhenMadeAndAShortPoolFailsThenNamingIt() throws IOException {
        Path nr = Path.of("/proc/sys/vm/nr_hugepages");
        assumeTrue(Files.isWritable(nr), "needs root to size the hugetlb pool");
        long before = Long.parseLong(Files.readString(nr).strip());
        long available = available();
        try {
            if (available > 0) {
                Files.writeString(nr, Long.toString(before - available >= 0 ? before - available : 0));
            }
            assertThatThrownBy(() -> GuestRam.allocate(16L << 20, RamBacking.HUGETLB_2M))
                    .hasMessageContaining("2 MiB huge pages").hasMessageContaining("hugetlb pool has 0 free");
            Files.writeString(nr, Long.toString(Long.parseLong(Files.readString(nr).strip()) + 8));
            assumeTrue(available() >= 8, "the kernel could not find 8 free 2 MiB pages to grow the pool");
            try (GuestRam ram = GuestRam.allocate(16L << 20, RamBacking.HUGETLB_2M)) {
                assertThat(available()).as("reserved at mmap time").isZero();
                ram.memory().writeByte(15L << 20, (byte) 1);
                assertThat(ram.memory().readByte(15L << 20)).isEqualTo((byte) 1);
            }
        } finally {
            Files.writeString(nr, Long.toString(before));
        }
    }

    private static long available() throws IOException {
        String m = Files.readString(Path.of("/proc/meminfo"));
        return value(m, "HugePages_Free:") - value(m, "HugePages_Rsvd:");
    }

    private static long value(String meminfo, String name) {
        return meminfo.lines().filter(l -> l.startsWith(name)).mapToLong(l -> Long.parseLong(l.substring(name.length()).trim()))
                .findFirst().orElse(-1);
    }
}
