package io.jkvm.device;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;

class RateLimitedLogTest {
    @Test
    void allowsBudgetPerWindowThenCountsSuppressedAndReportsThemNext() {
        AtomicLong now = new AtomicLong(0);
        RateLimitedLog log = new RateLimitedLog(LoggerFactory.getLogger("test"), 3, 1000, now::get);

        assertThat(log.acquire()).isZero();
        assertThat(log.acquire()).isZero();
        assertThat(log.acquire()).isZero();
        assertThat(log.acquire()).isEqualTo(-1);
        assertThat(log.acquire()).isEqualTo(-1);

        now.set(999);
        assertThat(log.acquire()).isEqualTo(-1);

        now.set(1000); // new window: the first message carries the summary of 3 suppressed
        assertThat(log.acquire()).isEqualTo(3);
        assertThat(log.acquire()).isZero();
    }

    @Test
    void debugNeverThrowsWhetherOrNotDebugIsEnabled() {
        RateLimitedLog log = new RateLimitedLog(LoggerFactory.getLogger("test"));
        for (int i = 0; i < 100; i++) {
            log.debug("message {}", i);
        }
        // With the default budget at most 10 permits are left in the current window.
        int granted = 0;
        for (int i = 0; i < 20; i++) {
            if (log.acquire() >= 0) {
                granted++;
            }
        }
        assertThat(granted).isLessThanOrEqualTo(RateLimitedLog.DEFAULT_PERMITS);
    }
}
