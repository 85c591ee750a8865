package io.jkvm.resources;

import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The token-bucket engine against Firecracker's semantics, on a hand-driven clock. */
class RateLimiterTest {
    private static final long MS = 1_000_000;

    private final ManualClock clock = new ManualClock();

    private RateLimiter bytes(long size, long burst, long refillMs) {
        return new RateLimiter(new RateLimitConfig(new BucketConfig(size, burst, refillMs), BucketConfig.UNLIMITED), clock);
    }

    @Test
    void startsFullAndRefillsContinuously() {
        RateLimiter l = bytes(1000, 0, 1000); // 1 byte per ms
        assertThat(l.consume(1000, 0)).isZero();
        assertThat(l.consume(1, 0)).as("empty: one token is 1 ms away").isEqualTo(MS);
        clock.advance(500 * MS);
        assertThat(l.consume(500, 0)).isZero();
        assertThat(l.consume(1, 0)).isEqualTo(MS);
        clock.advance(10_000 * MS);
        assertThat(l.consume(1000, 0)).as("never above size").isZero();
        assertThat(l.consume(1, 0)).isEqualTo(MS);
    }

    @Test
    void theWaitIsExactlyWhenTheTokensAreThere() {
        RateLimiter l = bytes(1000, 0, 1000);
        l.consume(1000, 0);
        long wait = l.consume(300, 0);
        assertThat(wait).isEqualTo(300 * MS);
        clock.advance(wait - 1);
        assertThat(l.consume(300, 0)).isEqualTo(1);
        clock.advance(1);
        assertThat(l.consume(300, 0)).isZero();
    }

    @Test
    void oneTimeBurstIsSpentFirstAndNeverRefilled() {
        RateLimiter l = bytes(100, 50, 100);
        assertThat(l.consume(150, 0)).as("bucket plus burst").isZero();
        assertThat(l.consume(1, 0)).isPositive();
        clock.advance(1_000 * MS);
        assertThat(l.consume(100, 0)).isZero();
        assertThat(l.consume(1, 0)).as("the burst did not come back").isPositive();
    }

    @Test
    void aRequestLargerThanTheBucketGoesThroughAndIsPaidBackAsFirecrackerDoes() {
        RateLimiter l = bytes(100, 0, 100); // 1 token per ms
        assertThat(l.consume(350, 0)).as("oversize, bucket not in debt: granted").isZero();
        // Firecracker blocks for (350 - 100) / 100 * 100 ms = 250 ms; a one-token request needs 1 ms more.
        assertThat(l.consume(1, 0)).isEqualTo(251 * MS);
        assertThat(l.consume(350, 0)).as("another oversize one waits for the debt only").isEqualTo(250 * MS);
        clock.advance(250 * MS);
        assertThat(l.consume(350, 0)).isZero();
    }

    @Test
    void bothBucketsMustAdmitAndARefusalTakesNothing() {
        RateLimitConfig c = new RateLimitConfig(new BucketConfig(1000, 0, 1000), new BucketConfig(2, 0, 1000));
        RateLimiter l = new RateLimiter(c, clock);
        assertThat(l.consume(100, 1)).isZero();
        assertThat(l.consume(100, 1)).isZero();
        long wait = l.consume(100, 1);
        assertThat(wait).as("ops bucket empty: 500 ms per op").isEqualTo(500 * MS);
        assertThat(l.nanosUntil(800, 0)).as("the refused request took no bytes").isZero();
        assertThat(l.nanosUntil(801, 0)).isPositive();
    }

    @Test
    void partialTokensCarryOver() {
        RateLimiter l = bytes(3, 0, 1); // a token every 333,333.3 ns
        l.consume(3, 0);
        clock.advance(500_000);
        assertThat(l.consume(1, 0)).isZero();
        clock.advance(500_000);
        assertThat(l.consume(2, 0)).as("1 ms earned 3 tokens in all, not 2").isZero();
    }

    @Test
    void chargeLeavesDebtThatLaterRequestsWaitOut() {
        RateLimiter l = bytes(1000, 0, 1000);
        l.charge(3000, 0);
        assertThat(l.nanosUntil(1, 0)).isEqualTo(2001 * MS);
        assertThat(l.nanosUntil(0, 0)).as("nothing asked, nothing waited for").isZero();
    }

    @Test
    void unlimitedBucketsNeverRefuse() {
        RateLimiter l = new RateLimiter(RateLimitConfig.UNLIMITED, clock);
        assertThat(l.consume(Long.MAX_VALUE, Long.MAX_VALUE)).isZero();
        RateLimiter zeroRefill = bytes(100, 0, 0);
        assertThat(zeroRefill.consume(1_000_000, 0)).as("refill_time 0 does not limit").isZero();
    }

    @Test
    void reconfigureKeepsUnchangedBucketsAndRefillsChangedOnes() {
        BucketConfig bw = new BucketConfig(1000, 0, 1000);
        BucketConfig ops = new BucketConfig(10, 0, 1000);
        RateLimiter l = new RateLimiter(new RateLimitConfig(bw, ops), clock);
        l.consume(1000, 10);
        l.reconfigure(new RateLimitConfig(bw, new BucketConfig(20, 0, 1000)));
        assertThat(l.nanosUntil(1, 0)).as("bandwidth unchanged: still empty").isPositive();
        assertThat(l.nanosUntil(0, 20)).as("ops changed: a new, full bucket").isZero();
        l.reconfigure(RateLimitConfig.UNLIMITED);
        assertThat(l.consume(1_000_000, 1_000_000)).isZero();
    }

    @Test
    void hugeBucketsDoNotOverflow() {
        RateLimiter l = bytes(Long.MAX_VALUE, Long.MAX_VALUE, BucketConfig.MAX_REFILL_TIME_MS);
        assertThat(l.consume(Long.MAX_VALUE, 0)).isZero();
        assertThat(l.consume(Long.MAX_VALUE, 0)).isZero();
        assertThat(l.consume(1, 0)).isPositive();
        clock.advance(1_000 * MS);
        assertThat(l.consume(1_000_000, 0)).as("a huge bucket refills fast in absolute terms").isZero();
    }

    @Test
    void configsAreValidated() {
        assertThatThrownBy(() -> new BucketConfig(-1, 0, 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new BucketConfig(1, -1, 1)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new BucketConfig(1, 0, BucketConfig.MAX_REFILL_TIME_MS + 1))
                .hasMessageContaining("refill_time");
        assertThat(new BucketConfig(0, 5, 10).limits()).isFalse();
        assertThat(new BucketConfig(5, 0, 0).limits()).isFalse();
        assertThatThrownBy(() -> bytes(10, 0, 10).consume(-1, 0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void throttleAppliesUpdatesWakesItsConsumerAndCountsWaits() {
        Throttle t = new Throttle(new RateLimitConfig(new BucketConfig(100, 0, 100), BucketConfig.UNLIMITED), clock);
        AtomicInteger wakes = new AtomicInteger();
        t.setWaker(wakes::incrementAndGet);
        assertThat(t.acquire(100, 1)).isZero();
        assertThat(t.acquire(10, 1)).isEqualTo(10 * MS);
        assertThat(t.acquire(10, 1)).as("still waiting: counted once").isPositive();
        clock.advance(10 * MS);
        assertThat(t.acquire(10, 1)).isZero();
        assertThat(t.stats()).isEqualTo(new Throttle.Stats(1, 10 * MS));

        assertThat(t.acquire(10, 1)).isPositive();
        t.update(RateLimitConfig.UNLIMITED);
        assertThat(wakes).hasValue(1);
        assertThat(t.acquire(1_000_000, 1)).as("the update applies at the consumer's next decision").isZero();
        assertThat(t.stats().throttled()).isEqualTo(2);
    }
}
