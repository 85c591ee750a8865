package io.jkvm.migration;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ConvergenceTest {
    @Test
    void stopsWhenTheRestFitsTheDowntimeTarget() {
        Convergence c = new Convergence(300);
        double mibPerS = 1 << 20;
        assertThat(c.stopAndCopy(1, 100L << 20, 100 * mibPerS)).as("1 s of data").isFalse();
        assertThat(c.stopAndCopy(1, 30L << 20, 100 * mibPerS)).as("300 ms of data").isTrue();
        assertThat(c.stopAndCopy(1, 1, 0)).as("no bandwidth estimate yet").isFalse();
        assertThat(c.stopAndCopy(Convergence.MAX_ROUNDS - 1, 1L << 40, mibPerS)).as("round limit").isTrue();
    }

    @Test
    void throttlesWhenRoundsStopShrinking() {
        assertThat(Convergence.nextThrottle(-1, 500, 0)).isZero();
        assertThat(Convergence.nextThrottle(500, 400, 0)).isZero();
        assertThat(Convergence.nextThrottle(400, 400, 0)).isEqualTo(20);
        assertThat(Convergence.nextThrottle(400, 450, 20)).isEqualTo(30);
        assertThat(Convergence.nextThrottle(400, 300, 30)).as("shrinking again keeps the throttle").isEqualTo(30);
        assertThat(Convergence.nextThrottle(400, 450, 90)).isEqualTo(90);
    }

    @Test
    void theTargetIsValidated() {
        assertThatThrownBy(() -> new Convergence(0)).hasMessage("max_downtime_ms: 0 outside 1..3600000");
    }
}
