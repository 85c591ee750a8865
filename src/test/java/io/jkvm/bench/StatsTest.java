package io.jkvm.bench;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

class StatsTest {
    @Test
    void medianOfAnOddCountIsTheMiddleSample() {
        Stats s = Stats.of(9, 1, 5);
        assertThat(s.median()).isEqualTo(5);
        assertThat(s.min()).isEqualTo(1);
        assertThat(s.max()).isEqualTo(9);
        assertThat(s.count()).isEqualTo(3);
    }

    @Test
    void medianOfAnEvenCountIsTheMeanOfTheMiddleTwo() {
        assertThat(Stats.of(4, 1, 3, 2).median()).isEqualTo(2.5);
    }

    @Test
    void samplesKeepTheirMeasuredOrder() {
        assertThat(Stats.of(3, 1, 2).samples()).containsExactly(3.0, 1.0, 2.0);
    }

    @Test
    void relativeSpreadIsHalfTheRangeOverTheMedian() {
        assertThat(Stats.of(90, 100, 110).relativeSpread()).isCloseTo(0.10, within(1e-12));
        assertThat(Stats.of(0, 0).relativeSpread()).isZero();
        assertThat(Stats.of(7).relativeSpread()).isZero();
    }

    @Test
    void noSamplesIsAnError() {
        assertThatThrownBy(() -> Stats.of(List.of())).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void ratioIsJkvmMedianOverPeerMedian() {
        MetricResult r = new MetricResult("x", "x", "us", Stats.of(12, 12, 12), Stats.of(8, 10, 12), "qemu", "");
        assertThat(r.ratio()).isEqualTo(1.2);
        MetricResult zero = new MetricResult("x", "x", "us", Stats.of(1), Stats.of(0), "qemu", "");
        assertThat(zero.ratio()).isNaN();
    }
}
