package io.jkvm.resources;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

import java.math.BigInteger;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The engine's guarantees over arbitrary configurations and request sequences: what it grants
 * never exceeds the configured rate plus one bucket and the burst (plus, with oversize requests,
 * the one request that ran into debt), and a refused request is granted exactly when the wait it
 * was told has passed.
 */
class RateLimiterProperties {
    private static final long MS = 1_000_000;

    /** One step: let {@code advance} ns pass, then ask for {@code tokens}. */
    record Step(long advance, long tokens) {}

    @Provide
    Arbitrary<BucketConfig> buckets() {
        return Combinators.combine(Arbitraries.longs().between(1, 1_000_000), Arbitraries.longs().between(0, 1_000_000),
                Arbitraries.longs().between(1, 10_000)).as(BucketConfig::new);
    }

    @Provide
    Arbitrary<List<Step>> steps() {
        Arbitrary<Step> step = Combinators.combine(Arbitraries.longs().between(0, 2_000 * MS),
                Arbitraries.longs().between(1, 4_000_000)).as(Step::new);
        return step.list().ofMaxSize(60);
    }

    @Property(tries = 1000)
    void grantsWithinBucketSizeNeverExceedRateTimesTimePlusSizePlusBurst(@ForAll("buckets") BucketConfig b,
            @ForAll("steps") List<Step> steps) {
        ManualClock clock = new ManualClock(-5_000 * MS); // nanoTime may be negative
        RateLimiter l = new RateLimiter(new RateLimitConfig(b, BucketConfig.UNLIMITED), clock);
        long elapsed = 0;
        BigInteger granted = BigInteger.ZERO;
        for (Step s : steps) {
            clock.advance(s.advance());
            elapsed += s.advance();
            long tokens = 1 + (s.tokens() - 1) % b.size(); // at most the bucket size
            if (l.consume(tokens, 0) == 0) {
                granted = granted.add(BigInteger.valueOf(tokens));
            }
            assertThat(granted).isLessThanOrEqualTo(bound(b, elapsed, 0));
        }
    }

    @Property(tries = 1000)
    void oversizeRequestsOverrunTheBoundByAtMostOneRequest(@ForAll("buckets") BucketConfig b,
            @ForAll("steps") List<Step> steps) {
        ManualClock clock = new ManualClock();
        RateLimiter l = new RateLimiter(new RateLimitConfig(BucketConfig.UNLIMITED, b), clock);
        long elapsed = 0;
        long largest = 0;
        BigInteger granted = BigInteger.ZERO;
        for (Step s : steps) {
            clock.advance(s.advance());
            elapsed += s.advance();
            if (l.consume(0, s.tokens()) == 0) {
                granted = granted.add(BigInteger.valueOf(s.tokens()));
                largest = Math.max(largest, s.tokens());
            }
            assertThat(granted).isLessThanOrEqualTo(bound(b, elapsed, largest));
        }
    }

    @Property(tries = 1000)
    void aRefusedRequestIsGrantedExactlyWhenItsWaitHasPassed(@ForAll("buckets") BucketConfig b,
            @ForAll("steps") List<Step> history, @ForAll("steps") List<Step> asks) {
        ManualClock clock = new ManualClock();
        RateLimiter l = new RateLimiter(new RateLimitConfig(b, BucketConfig.UNLIMITED), clock);
        for (Step s : history) {
            clock.advance(s.advance());
            l.consume(s.tokens(), 0);
        }
        for (Step ask : asks) {
            long wait = l.nanosUntil(ask.tokens(), 0);
            if (wait > 1) {
                clock.advance(wait - 1);
                assertThat(l.consume(ask.tokens(), 0)).as("one ns early").isEqualTo(1);
                clock.advance(1);
            } else {
                clock.advance(wait);
            }
            assertThat(l.consume(ask.tokens(), 0)).as("granted once the wait has passed").isZero();
        }
    }

    /** (size / refill) * elapsed + size + burst + extra, in tokens, rounded up. */
    private static BigInteger bound(BucketConfig b, long elapsedNanos, long extra) {
        BigInteger refillNs = BigInteger.valueOf(b.refillTimeMs()).multiply(BigInteger.valueOf(MS));
        BigInteger earned = BigInteger.valueOf(b.size()).multiply(BigInteger.valueOf(elapsedNanos)).add(refillNs)
                .subtract(BigInteger.ONE).divide(refillNs);
        return earned.add(BigInteger.valueOf(b.size())).add(BigInteger.valueOf(b.oneTimeBurst())).add(BigInteger.valueOf(extra));
    }
}
