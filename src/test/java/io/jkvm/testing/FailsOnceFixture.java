package io.jkvm.testing;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Run only by TierLauncherRetryTest (its name is not one surefire runs): one test fails on its
 * first run in this JVM and passes after, one always fails, one always passes.
 */
@Tag("tier-selftest")
class FailsOnceFixture {
    static final AtomicInteger RUNS = new AtomicInteger();

    @Test
    void failsOnce() {
        assertThat(RUNS.incrementAndGet()).as("first run").isGreaterThan(1);
    }

    @Test
    void alwaysFails() {
        assertThat(false).as("always").isTrue();
    }

    @Test
    void passes() {
        assertThat(true).isTrue();
    }
}
