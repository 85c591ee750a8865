package io.jkvm.vmm;

import io.jkvm.testing.Patience;
import org.junit.jupiter.api.Test;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The auto-converge hook without KVM: its bounds, its ticker's kicks while it throttles, and a
 * meter that never sleeps when the throttle is off or the machine stops (how much a throttled
 * vCPU sleeps is MachineThrottleDirectTest's, against a real guest).
 */
class VcpuThrottleTest {
    @Test
    void aThrottleOutsideZeroToNinetyNinePercentIsRefused() {
        VcpuThrottle t = new VcpuThrottle(() -> { });
        assertThatThrownBy(() -> t.set(100)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("0..99");
        assertThatThrownBy(() -> t.set(-1)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("0..99");
        assertThat(t.percent()).isZero();
    }

    @Test
    void whileThrottledTheTickerKicksTheVcpusSoAGuestThatNeverExitsIsThrottledToo() throws InterruptedException {
        CountDownLatch kicks = new CountDownLatch(3);
        VcpuThrottle t = new VcpuThrottle(kicks::countDown);
        t.set(50);
        try {
            assertThat(kicks.await(Patience.secondsOf(10), TimeUnit.SECONDS)).as("three kicks").isTrue();
            assertThat(t.percent()).isEqualTo(50);
        } finally {
            t.stop();
        }
    }

    @Test
    void aMeterDoesNotSleepWhenTheThrottleIsOffOrTheMachineStops() {
        // A meter that slept would have left the activity at THROTTLED, then HANDLING_EXIT.
        VcpuActivity activity = new VcpuActivity();
        VcpuThrottle t = new VcpuThrottle(() -> { });
        VcpuThrottle.Meter meter = t.meter(activity);
        meter.beforeRun();
        meter.afterRun();
        assertThat(activity.phase()).isEqualTo(VcpuActivity.Phase.NOT_STARTED);

        t.stop(); // a stopping machine: setting a throttle starts no ticker and no vCPU sleeps
        t.set(99);
        meter.beforeRun();
        meter.afterRun();
        assertThat(activity.phase()).isEqualTo(VcpuActivity.Phase.NOT_STARTED);
    }
}
