package io.jkvm.device.virtio;

import io.jkvm.resources.ManualClock;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The I/O thread's one-shot timers on a hand-driven clock: a timer runs once its deadline has
 * passed on the loop's clock (observed with {@link EventLoop#sync}, never by sleeping), once per
 * arming, and not after being cancelled or closed.
 */
class EventLoopTimerTest {
    private static final Duration WAIT = Duration.ofSeconds(10);

    private final ManualClock clock = new ManualClock();
    private final EventLoop loop = new EventLoop("timer-test", clock);
    private final AtomicInteger runs = new AtomicInteger();

    @AfterEach
    void close() {
        loop.close();
    }

    private void sync() {
        assertThat(loop.sync(WAIT)).isTrue();
    }

    @Test
    void runsOnceWhenItsDeadlineHasPassed() {
        loop.start();
        EventLoop.Timer t = loop.timer(() -> {
            assertThat(loop.onLoopThread()).isTrue();
            runs.incrementAndGet();
        });
        t.armAfter(Duration.ofHours(1).toNanos());
        sync();
        assertThat(t.isArmed()).isTrue();
        clock.advance(Duration.ofHours(1).minusNanos(1));
        sync();
        assertThat(runs).hasValue(0);
        clock.advance(1);
        sync();
        assertThat(runs).hasValue(1);
        assertThat(t.isArmed()).isFalse();
        assertThat(loop.timerRuns()).isEqualTo(1);
        clock.advance(Duration.ofHours(5));
        sync();
        assertThat(runs).as("one-shot").hasValue(1);
    }

    @Test
    void rearmingReplacesTheDeadlineAndCancelOrCloseStopsIt() {
        loop.start();
        EventLoop.Timer t = loop.timer(runs::incrementAndGet);
        t.armAfter(Duration.ofHours(1).toNanos());
        t.armAfter(Duration.ofHours(2).toNanos());
        clock.advance(Duration.ofHours(1));
        sync();
        assertThat(runs).as("the later deadline replaced the earlier").hasValue(0);
        t.cancel();
        clock.advance(Duration.ofHours(1));
        sync();
        assertThat(runs).hasValue(0);

        t.armAfter(0);
        sync();
        assertThat(runs).as("0: at the next iteration").hasValue(1);
        t.armAfter(Duration.ofMinutes(1).toNanos());
        t.close();
        clock.advance(Duration.ofMinutes(1));
        sync();
        assertThat(runs).hasValue(1);
    }

    @Test
    void aFailingTaskDoesNotStopTheLoop() {
        loop.start();
        loop.timer(() -> {
            throw new IllegalStateException("test: a task that fails");
        }).armAfter(0);
        EventLoop.Timer ok = loop.timer(runs::incrementAndGet);
        ok.armAfter(0);
        sync();
        sync();
        assertThat(runs).hasValue(1);
    }
}
