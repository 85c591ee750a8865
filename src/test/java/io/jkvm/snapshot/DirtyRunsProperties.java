package io.jkvm.snapshot;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.statistics.Statistics;

import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The Diff page list ({@link DirtyRuns}) from untrusted headers: anything is either valid by the
 * rules (aligned, inside one region, sorted, disjoint, bounded) or refused with
 * IllegalArgumentException; and runs built from tracked pages cover exactly those pages.
 */
class DirtyRunsProperties {
    /** 3 GiB below the 32-bit MMIO hole + 1 GiB above 4 GiB: two regions (GuestRam.layout). */
    static final long TWO_REGIONS = 4L << 30;
    static final long SMALL = 4L << 20;

    @Property(tries = 2000)
    void arbitraryRunListsAreValidOrRefusedCleanly(@ForAll("runLists") List<SnapshotHeader.PageRun> runs,
            @ForAll("sizes") long memory) {
        boolean valid = followsTheRules(runs, memory);
        Statistics.collect(valid ? "valid" : "refused");
        Statistics.coverage(c -> {
            c.check("valid").percentage(pct -> pct > 5);
            c.check("refused").percentage(pct -> pct > 5);
        });
        if (valid) {
            assertThatCode(() -> new DirtyRuns(memory, runs)).doesNotThrowAnyException();
        } else {
            assertThatThrownBy(() -> new DirtyRuns(memory, runs)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Property(tries = 500)
    void runsOfTrackedPagesCoverExactlyThosePages(@ForAll("pageSets") TreeSet<Long> pages) {
        long[] gpas = pages.stream().mapToLong(Long::longValue).toArray();
        DirtyRuns runs = DirtyRuns.of(TWO_REGIONS, gpas);
        TreeSet<Long> covered = new TreeSet<>();
        for (SnapshotHeader.PageRun r : runs.runs()) {
            for (long i = 0; i < r.pages(); i++) {
                covered.add(r.gpa() + i * DirtyRuns.PAGE);
            }
        }
        assertThat(covered).isEqualTo(pages);
        assertThat(runs.totalPages()).isEqualTo(pages.size());
    }

    @Property(tries = 5)
    void tooManyRunsAreJoinedAcrossCleanPagesNotDropped(@ForAll("strides") int stride) {
        int n = DirtyRuns.MAX_RUNS * 2 + 7;
        long[] gpas = new long[n];
        for (int i = 0; i < n; i++) {
            gpas[i] = (long) i * stride * DirtyRuns.PAGE;
        }
        DirtyRuns runs = DirtyRuns.of(TWO_REGIONS, gpas);
        assertThat(runs.runs().size()).isLessThanOrEqualTo(DirtyRuns.MAX_RUNS);
        for (long gpa : gpas) {
            assertThat(runs.runs()).anyMatch(r -> gpa >= r.gpa() && gpa < r.gpa() + r.pages() * DirtyRuns.PAGE);
        }
    }

    private static boolean followsTheRules(List<SnapshotHeader.PageRun> runs, long memory) {
        if (runs.size() > DirtyRuns.MAX_RUNS) {
            return false;
        }
        List<long[]> layout = io.jkvm.memory.GuestRam.layout(memory);
        long next = Long.MIN_VALUE;
        for (SnapshotHeader.PageRun r : runs) {
            if (r.gpa() % DirtyRuns.PAGE != 0 || r.pages() < 1) {
                return false;
            }
            boolean inside = false;
            for (long[] reg : layout) {
                // BigInteger-free overflow-safe check: pages fit before the region's end.
                if (r.gpa() >= reg[0] && r.gpa() < reg[0] + reg[1]
                        && r.pages() <= (reg[0] + reg[1] - r.gpa()) / DirtyRuns.PAGE) {
                    inside = true;
                }
            }
            if (!inside || r.gpa() < next) {
                return false;
            }
            next = r.gpa() + r.pages() * DirtyRuns.PAGE;
        }
        return true;
    }

    @Provide
    Arbitrary<Long> sizes() {
        return Arbitraries.of(SMALL, TWO_REGIONS);
    }

    @Provide
    Arbitrary<List<SnapshotHeader.PageRun>> runLists() {
        Arbitrary<Long> gpa = Arbitraries.oneOf(
                Arbitraries.longs().between(0, 5L << 30).map(g -> g & ~0xfffL),
                Arbitraries.longs().between(0, 5L << 30),
                Arbitraries.of(0L, 0xc0000000L - 4096, 0xc0000000L, 1L << 32, (4L << 20) - 4096, Long.MAX_VALUE & ~0xfffL,
                        Long.MIN_VALUE, -4096L));
        Arbitrary<Long> pages = Arbitraries.oneOf(Arbitraries.longs().between(-2, 64),
                Arbitraries.of(Long.MAX_VALUE, Long.MAX_VALUE / 4096, 1L << 20));
        Arbitrary<SnapshotHeader.PageRun> run = net.jqwik.api.Combinators.combine(gpa, pages).as(SnapshotHeader.PageRun::new);
        // Mostly sorted lists (so valid ones occur), sometimes shuffled.
        return run.list().ofMaxSize(8).flatMap(l -> Arbitraries.of(true, false).map(sort -> {
            List<SnapshotHeader.PageRun> out = new ArrayList<>(l);
            if (sort) {
                out.sort(java.util.Comparator.comparingLong(SnapshotHeader.PageRun::gpa));
            }
            return out;
        }));
    }

    @Provide
    Arbitrary<TreeSet<Long>> pageSets() {
        Arbitrary<Long> page = Arbitraries.oneOf(
                Arbitraries.longs().between(0, 64).map(p -> p * DirtyRuns.PAGE),
                Arbitraries.longs().between(0, 64).map(p -> 0xc0000000L - DirtyRuns.PAGE * (p + 1)),
                Arbitraries.longs().between(0, 64).map(p -> (1L << 32) + p * DirtyRuns.PAGE));
        return page.set().ofMaxSize(200).map(TreeSet::new);
    }

    @Provide
    Arbitrary<Integer> strides() {
        return Arbitraries.integers().between(2, 5);
    }
}
