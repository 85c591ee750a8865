package io.jkvm.labtests;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TierLanesTest {
    @Test
    void theHeaviestClassesGoToDifferentLanesAndTheRestEvensThemOut() {
        List<String> classes = List.of("a.DaemonDirectTest", "a.b.DaemonMigrateDirectTest", "a.WebConsoleDirectTest",
                "a.MachineDirectTest", "a.NewDirectTest");
        List<List<String>> lanes = TierLanes.split(classes, 2, TierLanes.LAB_SECONDS);
        assertThat(lanes).hasSize(2);
        assertThat(lanes.get(0)).contains("a.DaemonDirectTest").doesNotContain("a.b.DaemonMigrateDirectTest");
        assertThat(lanes.get(1)).contains("a.b.DaemonMigrateDirectTest", "a.WebConsoleDirectTest");
        assertThat(lanes.stream().flatMap(List::stream)).containsExactlyInAnyOrderElementsOf(classes);
    }

    @Test
    void moreLanesThanClassesLeavesNoLaneEmpty() {
        assertThat(TierLanes.split(List.of("x.OneTest"), 3, Map.of())).containsExactly(List.of("x.OneTest"));
        assertThatThrownBy(() -> TierLanes.split(List.of("x.OneTest"), 0, Map.of()))
                .hasMessageContaining("lanes");
    }

    @Test
    void theRegexNamesExactlyItsClasses() {
        Pattern p = Pattern.compile(TierLanes.regex(List.of("io.jkvm.a.FooTest", "io.jkvm.b.BarTest")));
        assertThat(p.matcher("io.jkvm.a.FooTest").matches()).isTrue();
        assertThat(p.matcher("io.jkvm.b.BarTest").matches()).isTrue();
        assertThat(p.matcher("io.jkvm.aXFooTest").matches()).as("dots are literal").isFalse();
        assertThat(p.matcher("io.jkvm.a.FooTestMore").matches()).isFalse();
    }

    @Test
    void theLaneCountFollowsCpusAndMemoryUnlessAsked() {
        assertThat(TierLanes.count(null, 2, 20_000, 6144)).isEqualTo(2);
        assertThat(TierLanes.count("", 16, 200_000, 6144)).isEqualTo(TierLanes.MAX_LANES);
        assertThat(TierLanes.count(null, 2, 9_000, 6144)).as("memory for one lane only").isEqualTo(1);
        assertThat(TierLanes.count(null, 2, 100, 6144)).as("always one").isEqualTo(1);
        assertThat(TierLanes.count(" 3 ", 1, 100, 6144)).isEqualTo(3);
        assertThatThrownBy(() -> TierLanes.count("two", 2, 20_000, 6144)).hasMessageContaining("jkvm.tier.lanes");
        assertThatThrownBy(() -> TierLanes.count("0", 2, 20_000, 6144)).hasMessageContaining("jkvm.tier.lanes");
    }

    /** Greedy longest-first: every class in one lane, and no lane more than one class above an even share. */
    @Property(tries = 300)
    void everyClassRunsOnceAndTheLanesAreNearlyEven(@ForAll @Size(min = 1, max = 40) List<@IntRange(min = 1, max = 500) Integer> weights,
            @ForAll @IntRange(min = 1, max = 4) int lanes) {
        Map<String, Integer> seconds = new HashMap<>();
        List<String> classes = new ArrayList<>();
        for (int i = 0; i < weights.size(); i++) {
            classes.add("p.C" + i + "Test");
            seconds.put("C" + i + "Test", weights.get(i));
        }
        List<List<String>> split = TierLanes.split(classes, lanes, seconds);
        assertThat(split).hasSize(Math.min(lanes, classes.size())).allSatisfy(l -> assertThat(l).isNotEmpty());
        assertThat(split.stream().flatMap(List::stream)).containsExactlyInAnyOrderElementsOf(classes);
        int total = weights.stream().mapToInt(Integer::intValue).sum();
        int heaviest = weights.stream().mapToInt(Integer::intValue).max().orElseThrow();
        for (List<String> lane : split) {
            int load = lane.stream().mapToInt(c -> TierLanes.weight(c, seconds)).sum();
            assertThat(load).isLessThanOrEqualTo(total / split.size() + heaviest);
        }
    }
}
