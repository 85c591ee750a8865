package io.jkvm.storage;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.LongRange;
import net.jqwik.api.constraints.Size;

import java.util.List;
import java.util.Set;
import java.util.TreeSet;

import static org.assertj.core.api.Assertions.assertThat;

class TableClustersTest {
    private static final int BITS = 16;

    /** Membership is exactly "some table entry or later addition falls in the same cluster", zero entries aside. */
    @Property(tries = 300)
    void containsExactlyTheClustersOfNonZeroEntries(
            @ForAll @Size(max = 40) List<@LongRange(min = 0, max = 1L << 30) Long> l1,
            @ForAll @Size(max = 40) List<@LongRange(min = 0, max = 1L << 30) Long> added,
            @ForAll @Size(max = 60) List<@LongRange(min = 0, max = 1L << 30) Long> probes) {
        long mask = Qcow2Image.OFFSET_MASK;
        TableClusters t = TableClusters.of(BITS, mask, l1.stream().mapToLong(Long::longValue).toArray(), new long[0]);
        Set<Long> expected = new TreeSet<>();
        for (long e : l1) {
            if ((e & mask) != 0) {
                expected.add((e & mask) >>> BITS);
            }
        }
        for (long a : added) {
            long at = a & mask & ~((1L << BITS) - 1);
            if (at != 0) {
                t.add(at);
                expected.add(at >>> BITS);
            }
        }
        assertThat(t.size()).isEqualTo(expected.size());
        for (long x : probes) {
            assertThat(t.contains(x)).as("offset %d", x).isEqualTo(expected.contains(x >>> BITS));
        }
        for (long c : expected) {
            assertThat(t.contains(c << BITS)).isTrue();
            assertThat(t.contains((c << BITS) + (1 << BITS) - 1)).isTrue();
        }
    }
}
