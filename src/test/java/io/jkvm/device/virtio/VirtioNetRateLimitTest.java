package io.jkvm.device.virtio;

import io.jkvm.device.virtio.pci.VirtioPciDevice;
import io.jkvm.net.MacAddress;
import io.jkvm.resources.BucketConfig;
import io.jkvm.resources.ManualClock;
import io.jkvm.resources.RateLimitConfig;
import io.jkvm.resources.Throttle;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * virtio-net under tx and rx rate limiters, through the real transport and I/O thread, on a
 * clock the test moves by hand (see {@link VirtioBlockRateLimitTest}): transmit holds frames on
 * the ring, receive stops polling the TAP, both sleep on one timer until the tokens are there,
 * and a limiter update applies at once.
 */
class VirtioNetRateLimitTest {
    private static final MacAddress MAC = MacAddress.parse("52:54:00:12:34:56");
    private static final long HOUR_MS = 3_600_000;
    private static final int PAYLOAD = 600;
    private static final long WINDOW_MS = 300;
    private static final long IDLE_WAKEUPS = 2;

    private final ManualClock clock = new ManualClock();
    private final SocketPairBackend be = new SocketPairBackend();
    private Throttle rxLimit;
    private Throttle txLimit;
    private VirtioDriver drv;
    private DriverQueue rx;
    private DriverQueue tx;

    private static RateLimitConfig bytesPerHour(long size) {
        return new RateLimitConfig(new BucketConfig(size, 0, HOUR_MS), BucketConfig.UNLIMITED);
    }

    private void start(RateLimitConfig rxConfig, RateLimitConfig txConfig) {
        rxLimit = new Throttle(rxConfig, clock);
        txLimit = new Throttle(txConfig, clock);
        drv = new VirtioDriver(new VirtioNet(be, MAC, rxLimit, txLimit), clock);
        long f = VirtioFeatures.bit(VirtioFeatures.VERSION_1) | VirtioFeatures.bit(VirtioNet.F_MAC);
        assertThat(drv.negotiate(f)).isTrue();
        rx = drv.setupQueue(VirtioNet.RX, 0x1000, 16, VirtioPciDevice.NO_VECTOR);
        tx = drv.setupQueue(VirtioNet.TX, 0x3000, 16, VirtioPciDevice.NO_VECTOR);
        drv.driverOk();
    }

    @AfterEach
    void close() {
        if (drv != null) {
            drv.close();
        }
    }

    private static byte[] frame(int payload, int fill) {
        byte[] f = new byte[VirtioNet.HDR + payload];
        Arrays.fill(f, VirtioNet.HDR, f.length, (byte) fill);
        return f;
    }

    /** Queues frame {@code i} ({@link #PAYLOAD} wire bytes) for transmission. */
    private void transmit(int i) {
        long buf = 0x8000 + 0x400L * i;
        drv.gm.memory.write(buf, frame(PAYLOAD, i + 1));
        tx.setDesc(i, buf, VirtioNet.HDR + PAYLOAD, 0, 0);
        tx.publish(i);
    }

    private int framesOnTheWire() {
        int n = 0;
        while (be.receive() != null) {
            n++;
        }
        return n;
    }

    /** Posts {@code n} receive buffers of 2 KiB. */
    private void postReceiveBuffers(int n) {
        for (int i = 0; i < n; i++) {
            rx.setDesc(i, 0xa000 + 0x800L * i, 2048, Virtqueue.F_WRITE, 0);
            rx.publish(i);
        }
    }

    @Test
    void transmitSendsWhatTheBucketAllowsAndTheRestWhenTheTimerFallsDue() {
        start(RateLimitConfig.UNLIMITED, bytesPerHour(2 * PAYLOAD)); // each frame's bytes take 30 min to earn
        for (int i = 0; i < 3; i++) {
            transmit(i);
        }
        drv.kick(VirtioNet.TX);
        drv.syncIo();
        assertThat(tx.usedIdx()).isEqualTo(2);
        assertThat(framesOnTheWire()).isEqualTo(2);
        assertThat(drv.dev.ioStats().armedTimers()).isEqualTo(1);

        clock.advance(Duration.ofMinutes(29));
        drv.syncIo();
        assertThat(framesOnTheWire()).isZero();
        clock.advance(Duration.ofMinutes(1));
        drv.syncIo();
        assertThat(tx.usedIdx()).isEqualTo(3);
        assertThat(framesOnTheWire()).isEqualTo(1);
        assertThat(((VirtioNet) drv.dev.device()).txThrottleStats()).isEqualTo(
                new Throttle.Stats(1, Duration.ofMinutes(30).toNanos()));
    }

    @Test
    void receiveStopsPollingTheTapUntilTheTimerFallsDue() throws Exception {
        start(bytesPerHour(1000), RateLimitConfig.UNLIMITED);
        postReceiveBuffers(4);
        for (int i = 0; i < 3; i++) {
            be.send(frame(PAYLOAD, i + 1));
        }
        drv.kick(VirtioNet.RX);
        drv.syncIo();
        // 1000 tokens: the first frame leaves 400, the second is received with 400 and leaves 200 of
        // debt, the third waits for the debt and one token: 201 tokens, 201/1000 of an hour.
        assertThat(rx.usedIdx()).isEqualTo(2);
        assertThat(rx.usedElem(1)[1]).isEqualTo(VirtioNet.HDR + PAYLOAD);
        assertThat(drv.dev.ioStats().armedWatches()).as("the TAP is not polled while throttled").isZero();
        assertThat(drv.dev.ioStats().armedTimers()).isEqualTo(1);

        long wakeups = drv.dev.ioStats().loopIterations();
        TimeUnit.MILLISECONDS.sleep(WINDOW_MS); // observation window: a frame is waiting, yet nothing is to happen
        assertThat(drv.dev.ioStats().loopIterations() - wakeups).as("I/O thread wake-ups while throttled")
                .isLessThanOrEqualTo(IDLE_WAKEUPS);

        long wait = Duration.ofHours(1).toNanos() * 201 / 1000;
        clock.advance(wait - 1);
        drv.syncIo();
        assertThat(rx.usedIdx()).isEqualTo(2);
        clock.advance(1);
        drv.syncIo();
        assertThat(rx.usedIdx()).isEqualTo(3);
        assertThat(drv.gm.memory.readByte(0xa000 + 0x800L * 2 + VirtioNet.HDR)).isEqualTo((byte) 3);
        assertThat(drv.dev.ioStats().armedTimers()).as("that frame's excess is debt again: waiting for it").isEqualTo(1);
        assertThat(drv.dev.ioStats().armedWatches()).isZero();
    }

    @Test
    void updatingTheLimitersTakesEffectAtOnce() {
        start(bytesPerHour(1000), bytesPerHour(PAYLOAD));
        postReceiveBuffers(4);
        for (int i = 0; i < 3; i++) {
            be.send(frame(PAYLOAD, i + 1));
            transmit(i);
        }
        drv.kick(VirtioNet.RX);
        drv.kick(VirtioNet.TX);
        drv.syncIo();
        assertThat(rx.usedIdx()).isEqualTo(2);
        assertThat(tx.usedIdx()).isEqualTo(1);

        VirtioNet net = (VirtioNet) drv.dev.device();
        net.updateRateLimiters(RateLimitConfig.UNLIMITED, bytesPerHour(10 * PAYLOAD));
        drv.syncIo();
        assertThat(rx.usedIdx()).as("receive unlimited now").isEqualTo(3);
        assertThat(tx.usedIdx()).as("a new, full transmit bucket").isEqualTo(3);
        assertThat(net.rxRateLimit()).isEqualTo(RateLimitConfig.UNLIMITED);
        assertThat(net.txRateLimit()).isEqualTo(bytesPerHour(10 * PAYLOAD));
    }
}
