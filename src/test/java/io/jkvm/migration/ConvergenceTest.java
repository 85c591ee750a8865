package io.jkvm.migration;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ConvergenceTest {
    @Test
    void stopsWhenTheRestFitsTheDowntimeTarget() {
        Convergence c = new Convergence(300);
        double mibPerS = 1 << 20;
        assertThat(c.after(1, -1, 100L << 20, 100 * mibPerS)).as("1 s of data").isEqualTo(Convergence.Next.ANOTHER_ROUND);
        assertThat(c.after(1, -1, 30L << 20, 100 * mibPerS)).as("300 ms of data").isEqualTo(Convergence.Next.STOP_AND_COPY);
        assertThat(c.after(1, -1, 1, 0)).as("no bandwidth estimate yet").isEqualTo(Convergence.Next.ANOTHER_ROUND);
        assertThat(c.after(Convergence.MAX_ROUNDS - 1, -1, 1L << 40, mibPerS)).as("round limit")
                .isEqualTo(Convergence.Next.STOP_AND_COPY);
        assertThat(c.after(3, 100L << 20, 200L << 20, mibPerS)).as("not shrinking: the throttle's business")
                .isEqualTo(Convergence.Next.ANOTHER_ROUND);
    }

    @Test
    void postcopyTakesOverWhereThrottlingWouldBegin() {
        Convergence c = new Convergence(300, true);
        double mibPerS = 1 << 20;
        assertThat(c.after(0, -1, 500L << 20, mibPerS)).as("first round: nothing to compare")
                .isEqualTo(Convergence.Next.ANOTHER_ROUND);
        assertThat(c.after(1, 500L << 20, 400L << 20, mibPerS)).as("shrinking").isEqualTo(Convergence.Next.ANOTHER_ROUND);
        assertThat(c.after(2, 400L << 20, 400L << 20, mibPerS)).as("stuck").isEqualTo(Convergence.Next.POSTCOPY);
        assertThat(c.after(Convergence.MAX_ROUNDS - 1, 400L << 20, 300L << 20, mibPerS)).as("round limit")
                .isEqualTo(Convergence.Next.POSTCOPY);
        assertThat(c.after(2, 400L << 20, 400L << 20, 10000 * mibPerS)).as("fits the target: no need for post-copy")
                .isEqualTo(Convergence.Next.STOP_AND_COPY);
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
