package io.jkvm.device.virtio;

import io.jkvm.device.virtio.pci.VirtioPciDevice;
import io.jkvm.device.virtio.pci.VirtioPciState;
import io.jkvm.resources.BucketConfig;
import io.jkvm.resources.ManualClock;
import io.jkvm.resources.RateLimitConfig;
import io.jkvm.resources.Throttle;
import io.jkvm.storage.RawImage;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * virtio-blk under a drive rate limiter, through the real transport and I/O thread, on a clock
 * the test moves by hand: the device serves what the buckets allow, leaves the rest on the
 * available ring, sleeps (one armed timer, no polling) until the tokens are there, and goes on
 * when the timer falls due or the limits change. Every step is synchronised with
 * {@link VirtioDriver#syncIo}; limits are per hour so no real-time timeout can fall due while
 * the test runs.
 */
class VirtioBlockRateLimitTest {
    private static final long HOUR_MS = 3_600_000;
    private static final int SECTORS = 64;
    private static final int DATA = 2048;
    /** Requests in flight; each has its own header, data and status buffers. */
    private static final int REQUESTS = 4;
    /** Observation window for "asleep": a slower machine only makes fewer wake-ups, never more. */
    private static final long WINDOW_MS = 300;
    private static final long IDLE_WAKEUPS = 2;

    @TempDir
    Path dir;
    private final ManualClock clock = new ManualClock();
    private VirtioDriver drv;
    private DriverQueue dq;
    private Throttle throttle;

    private static RateLimitConfig bytesPerHour(long size) {
        return new RateLimitConfig(new BucketConfig(size, 0, HOUR_MS), BucketConfig.UNLIMITED);
    }

    private void start(RateLimitConfig limits) throws IOException {
        Path file = dir.resolve("disk.img");
        byte[] init = new byte[SECTORS * 512];
        for (int i = 0; i < init.length; i++) {
            init[i] = (byte) (i / 512);
        }
        Files.write(file, init);
        throttle = new Throttle(limits, clock);
        drv = new VirtioDriver(new VirtioBlock(RawImage.open(file, false), "limited", throttle), clock);
        assertThat(drv.negotiate(drv.deviceFeatures())).isTrue();
        dq = drv.setupQueue(0, 0x1000, 16, VirtioPciDevice.NO_VECTOR);
        drv.driverOk();
    }

    @AfterEach
    void close() {
        if (drv != null) {
            drv.close();
        }
    }

    /** Publishes request {@code i}: a {@link #DATA}-byte read of sector 4i (or a flush), header and status of its own. */
    private void publish(int i, int type) {
        long hdr = 0x8000 + 0x100L * i;
        long status = 0xf000 + i;
        drv.gm.memory.writeInt(hdr, type);
        drv.gm.memory.writeInt(hdr + 4, 0);
        drv.gm.memory.writeLong(hdr + 8, 4L * i);
        drv.gm.memory.writeByte(status, (byte) 0x55);
        int d = 3 * i;
        dq.setDesc(d, hdr, 16, Virtqueue.F_NEXT, d + 1);
        if (type == VirtioBlock.T_IN) {
            dq.setDesc(d + 1, 0xa000 + (long) DATA * i, DATA, Virtqueue.F_WRITE | Virtqueue.F_NEXT, d + 2);
            dq.setDesc(d + 2, status, 1, Virtqueue.F_WRITE, 0);
        } else {
            dq.setDesc(d + 1, status, 1, Virtqueue.F_WRITE, 0);
        }
        dq.publish(d);
    }

    private void publishReads() {
        for (int i = 0; i < REQUESTS; i++) {
            publish(i, VirtioBlock.T_IN);
        }
    }

    private VirtioPciDevice.IoStats io() {
        return drv.dev.ioStats();
    }

    @Test
    void servesWhatTheBucketAllowsThenResumesWhenTheTimerFallsDue() throws IOException {
        start(bytesPerHour(2 * DATA)); // a full bucket holds two reads; one read's worth takes 30 min
        publishReads();
        drv.kick(0);
        drv.syncIo();
        assertThat(dq.usedIdx()).as("reads within the bucket").isEqualTo(2);
        assertThat(io().armedTimers()).as("one timer for when the next read fits").isEqualTo(1);
        assertThat(throttle.stats().throttled()).isEqualTo(1);

        drv.kick(0); // a driver kicking again changes nothing: the request is still not allowed
        drv.syncIo();
        clock.advance(Duration.ofMinutes(29));
        drv.syncIo();
        assertThat(dq.usedIdx()).as("29 of 30 minutes").isEqualTo(2);
        assertThat(io().timerRuns()).isZero();

        clock.advance(Duration.ofMinutes(1));
        drv.syncIo();
        assertThat(io().timerRuns()).as("the timer fell due").isEqualTo(1);
        assertThat(dq.usedIdx()).as("exactly one more read's worth").isEqualTo(3);
        assertThat(drv.gm.memory.readByte(0xf000 + 2)).isEqualTo(VirtioBlock.S_OK);
        assertThat(drv.gm.memory.read(0xa000 + 2L * DATA, 1)[0]).as("sector 8's data").isEqualTo((byte) 8);
        assertThat(dq.usedElem(2)).as("in order: the held request first").containsExactly(6, DATA + 1);

        clock.advance(Duration.ofMinutes(30));
        drv.syncIo();
        assertThat(dq.usedIdx()).isEqualTo(REQUESTS);
        assertThat(io().armedTimers()).as("nothing left to wait for").isZero();
        assertThat(throttle.stats().throttledNanos()).as("waited 30 min twice").isEqualTo(Duration.ofHours(1).toNanos());
    }

    @Test
    void aThrottledQueueSleepsUntilItsTimer() throws Exception {
        start(bytesPerHour(DATA));
        publishReads();
        drv.kick(0);
        drv.syncIo();
        assertThat(dq.usedIdx()).isEqualTo(1);
        long wakeups = io().loopIterations();
        TimeUnit.MILLISECONDS.sleep(WINDOW_MS); // observation window, not synchronisation: nothing is to happen
        assertThat(io().loopIterations() - wakeups).as("I/O thread wake-ups while throttled").isLessThanOrEqualTo(IDLE_WAKEUPS);
        assertThat(dq.usedIdx()).isEqualTo(1);
        assertThat(io().timerRuns()).isZero();
    }

    @Test
    void theOpsBucketLimitsRequestsWhateverTheirSize() throws IOException {
        start(new RateLimitConfig(BucketConfig.UNLIMITED, new BucketConfig(2, 0, HOUR_MS)));
        publish(0, VirtioBlock.T_FLUSH);
        publish(1, VirtioBlock.T_FLUSH);
        publish(2, VirtioBlock.T_FLUSH);
        drv.kick(0);
        drv.syncIo();
        assertThat(dq.usedIdx()).isEqualTo(2);
        clock.advance(Duration.ofMinutes(30));
        drv.syncIo();
        assertThat(dq.usedIdx()).isEqualTo(3);
    }

    @Test
    void updatingTheLimiterTakesEffectAtOnce() throws IOException {
        start(bytesPerHour(DATA));
        publishReads();
        drv.kick(0);
        drv.syncIo();
        assertThat(dq.usedIdx()).isEqualTo(1);

        VirtioBlock blk = (VirtioBlock) drv.dev.device();
        blk.updateRateLimiter(bytesPerHour(2 * DATA)); // a changed bucket starts full: two more reads now
        drv.syncIo();
        assertThat(dq.usedIdx()).as("without any time passing").isEqualTo(3);
        assertThat(blk.rateLimit()).isEqualTo(bytesPerHour(2 * DATA));

        blk.updateRateLimiter(RateLimitConfig.UNLIMITED);
        drv.syncIo();
        assertThat(dq.usedIdx()).isEqualTo(REQUESTS);
    }

    @Test
    void aHeldRequestStaysOnTheRingAcrossASnapshotAndTheRestoredLimiterStartsFull() throws IOException {
        start(bytesPerHour(DATA));
        publishReads();
        drv.kick(0);
        drv.syncIo();
        assertThat(dq.usedIdx()).isEqualTo(1);
        drv.dev.suspendIo();
        VirtioPciState s = drv.dev.save();
        assertThat(s.queues().get(0).position().lastAvail()).as("held requests are not consumed").isEqualTo(1);

        ((VirtioBlock) drv.dev.device()).image().setLocked(false); // hand the image over, as migration does
        ManualClock clockB = new ManualClock();
        Throttle fromConfig = new Throttle(bytesPerHour(DATA), clockB); // configuration, not state: full again
        try (VirtioDriver b = VirtioDriver.restored(
                new VirtioBlock(RawImage.open(dir.resolve("disk.img"), false), "limited", fromConfig), drv.copyOfMemory(), s,
                clockB)) {
            DriverQueue dqB = new DriverQueue(b.gm.memory, 0x1000, 16);
            b.syncIo();
            assertThat(dqB.usedIdx()).as("the restored device serves the next request at once").isEqualTo(2);
            clockB.advance(Duration.ofHours(1));
            b.syncIo();
            assertThat(dqB.usedIdx()).isEqualTo(3);
        }
    }
}
