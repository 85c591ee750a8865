package io.jkvm.device.virtio;

import io.jkvm.device.virtio.pci.VirtioPciDevice;
import io.jkvm.net.MacAddress;
import io.jkvm.storage.DiskConfig;
import io.jkvm.testing.ThreadCost;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;

import static io.jkvm.device.virtio.DeviceStatus.DEVICE_NEEDS_RESET;
import static io.jkvm.device.virtio.DeviceStatus.FAILED;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

/**
 * Guests that try to stall, starve or exhaust the VMM through the virtio devices (issue 11,
 * items 1 to 4), run against the real transport and devices without KVM. The oracles are
 * liveness and resources on the device's I/O thread: what it allocates for one request, whether
 * its poll loop spins while it has nothing to do, whether a reset or {@code suspendIo} gets
 * through while a guest keeps it busy.
 */
class HostileGuestTest {
    private static final long V1 = VirtioFeatures.bit(VirtioFeatures.VERSION_1);
    private static final long INDIRECT = VirtioFeatures.bit(VirtioFeatures.RING_INDIRECT_DESC);
    private static final int NO_VECTOR = VirtioPciDevice.NO_VECTOR;
    /** A spinning poll loop returns thousands of times in a window; an idle one almost never. */
    private static final long IDLE_WAKEUPS = 50;
    /** Observation window for "nothing happens": long enough for a spinning loop to show, whatever the load. */
    private static final long WINDOW_MS = 300;
    /** Hang detector for a reset or suspendIo: generous, it only tells "blocked" from "took a while". */
    private static final long HANG_S = 10;

    @TempDir
    Path dir;

    /** Item 1: one INDIRECT descriptor to 64 readable 4 MiB descriptors (256 MiB) at one guest address. */
    @Test
    void consoleTransmitStreamsAHugeChainThroughABoundedBuffer() {
        AtomicLong written = new AtomicLong();
        OutputStream sink = new OutputStream() {
            @Override
            public void write(int b) {
                written.incrementAndGet();
            }

            @Override
            public void write(byte[] b, int off, int len) {
                written.addAndGet(len);
            }
        };
        try (VirtioDriver drv = new VirtioDriver(new VirtioConsole(null, sink, 0, 0), null, new GuardedMemory(8L << 20))) {
            assertThat(drv.negotiate(V1 | INDIRECT)).isTrue();
            drv.setupQueue(VirtioConsole.RX, 0x1000, 64, NO_VECTOR);
            DriverQueue tx = drv.setupQueue(VirtioConsole.TX, 0x3000, 64, NO_VECTOR);
            drv.driverOk();
            long table = 0x8000;
            int n = 64;
            long each = 4L << 20;
            for (int i = 0; i < n; i++) {
                tx.setDesc(table, i, 0x10_0000, each, i < n - 1 ? Virtqueue.F_NEXT : 0, i + 1);
            }
            tx.setDesc(0, table, 16L * n, Virtqueue.F_INDIRECT, 0);
            long io = drv.dev.ioStats().threadId();
            ThreadCost before = ThreadCost.of(io);
            tx.publish(0);
            drv.kick(VirtioConsole.TX);
            drv.awaitUsed(tx, 1);
            ThreadCost cost = ThreadCost.of(io).since(before);
            assertThat(tx.usedElem(0)).as("the chain is returned").containsExactly(0, 0);
            assertThat(written.get()).as("every byte reaches the output").isEqualTo(n * each);
            assertThat(drv.status() & DEVICE_NEEDS_RESET).isZero();
            assertThat(cost.allocatedBytes()).as("I/O thread for a 256 MiB transmit: %s", cost).isLessThan(4L << 20);
        }
    }

    /** Item 1, second half: an Error in a request fails that device, returns the chain and leaves the VMM running. */
    @Test
    void anErrorInARequestFailsTheDeviceAndReturnsTheChain() {
        AtomicReference<Error> next = new AtomicReference<>(new OutOfMemoryError("test: Java heap space"));
        try (VirtioDriver drv = new VirtioDriver(new ThrowingDevice(next))) {
            assertThat(drv.negotiate(V1)).isTrue();
            DriverQueue q = drv.setupQueue(0, 0x1000, 16, NO_VECTOR);
            drv.driverOk();
            q.setDesc(0, 0x8000, 64, Virtqueue.F_WRITE, 0);
            q.publish(0);
            drv.kick(0);
            VirtioDriver.await("DEVICE_NEEDS_RESET", () -> (drv.status() & DEVICE_NEEDS_RESET) != 0);
            drv.awaitUsed(q, 1);
            assertThat(q.usedElem(0)).as("returned unused").containsExactly(0, 0);

            // The device (and its I/O thread) work again after the driver resets it.
            assertThat(drv.negotiate(V1)).isTrue();
            drv.gm.memory.fill(0x1000, 0x1000, (byte) 0);
            DriverQueue fresh = drv.setupQueue(0, 0x1000, 16, NO_VECTOR);
            drv.driverOk();
            fresh.setDesc(0, 0x8000, 64, Virtqueue.F_WRITE, 0);
            fresh.publish(0);
            drv.kick(0);
            drv.awaitUsed(fresh, 1);
            assertThat(fresh.usedElem(0)).containsExactly(0, 64);
            assertThat(drv.status() & DEVICE_NEEDS_RESET).isZero();
        }
    }

    /** Item 2: FAILED with a frame waiting on the TAP. */
    @Test
    void failedNetDeviceDoesNotSpinOnAReadableTap() {
        SocketPairBackend backend = new SocketPairBackend();
        try (VirtioDriver drv = new VirtioDriver(new VirtioNet(backend, MacAddress.parse("52:54:00:12:34:56")))) {
            assertThat(drv.negotiate(V1)).isTrue();
            DriverQueue rx = drv.setupQueue(VirtioNet.RX, 0x1000, 16, NO_VECTOR);
            drv.setupQueue(VirtioNet.TX, 0x3000, 16, NO_VECTOR);
            drv.driverOk();
            rx.setDesc(0, 0x8000, 2048, Virtqueue.F_WRITE, 0);
            rx.setDesc(1, 0x9000, 2048, Virtqueue.F_WRITE, 0);
            rx.publish(0);
            rx.publish(1);
            drv.kick(VirtioNet.RX);
            backend.send(frame(60));
            drv.awaitUsed(rx, 1); // the device works, and still has a buffer: it keeps polling the TAP
            drv.setStatus(drv.status() | FAILED);
            backend.send(frame(60));
            assertIdle(drv, "net I/O thread after FAILED with a frame on the TAP");
        }
    }

    /** Item 2, the console: FAILED, then the user types. */
    @Test
    void failedConsoleDoesNotSpinOnInput() throws Exception {
        PipedOutputStream typed = new PipedOutputStream();
        PipedInputStream in = new PipedInputStream(typed);
        try (VirtioDriver drv = new VirtioDriver(new VirtioConsole(in, OutputStream.nullOutputStream(), 0, 0))) {
            assertThat(drv.negotiate(V1)).isTrue();
            drv.setupQueue(VirtioConsole.RX, 0x1000, 16, NO_VECTOR);
            drv.setupQueue(VirtioConsole.TX, 0x3000, 16, NO_VECTOR);
            drv.driverOk();
            drv.setStatus(drv.status() | FAILED);
            typed.write("ls\n".getBytes());
            typed.flush();
            assertIdle(drv, "console I/O thread after FAILED with input waiting");
        }
    }

    /** Item 3: DRIVER_OK with only the transmit queue enabled, then a frame arrives. */
    @Test
    void netWithoutAReceiveQueueDoesNotSpinAndReceivesOnceItHasOne() {
        SocketPairBackend backend = new SocketPairBackend();
        try (VirtioDriver drv = new VirtioDriver(new VirtioNet(backend, MacAddress.parse("52:54:00:12:34:57")))) {
            assertThat(drv.negotiate(V1)).isTrue();
            drv.setupQueue(VirtioNet.TX, 0x3000, 16, NO_VECTOR);
            drv.driverOk();
            backend.send(frame(60));
            assertIdle(drv, "net I/O thread with a frame on the TAP and no receive queue");

            // A receive queue enabled later, with a buffer and a kick, gets the frame.
            DriverQueue rx = drv.setupQueue(VirtioNet.RX, 0x1000, 16, NO_VECTOR);
            rx.setDesc(0, 0x8000, 2048, Virtqueue.F_WRITE, 0);
            rx.publish(0);
            drv.kick(VirtioNet.RX);
            drv.awaitUsed(rx, 1);
            assertThat(rx.usedElem(0)[1]).isEqualTo(VirtioNet.HDR + 60);
        }
    }

    /**
     * Item 4: a read request whose data buffer covers its own header and the avail ring, over a
     * disk whose sector k holds the next request (sector k+1) and avail.idx = k+2: every read
     * publishes the request again, with no vCPU involved. Pausing I/O and resetting the device
     * must still get through, and stop it.
     */
    @Test
    void aSelfRepublishingBlockRequestCannotHoldTheDevice() throws Exception {
        long avail = 0x2000;
        long header = avail + 0x40;
        int sectors = 65536; // u16 indexes: sector k's avail idx and next sector wrap around with them
        byte[] disk = new byte[sectors * VirtioBlock.SECTOR];
        ByteBuffer d = ByteBuffer.wrap(disk).order(ByteOrder.LITTLE_ENDIAN);
        for (int k = 0; k < sectors; k++) {
            int s = k * VirtioBlock.SECTOR;
            d.putShort(s + 2, (short) (k + 2)); // avail.idx; ring entries stay 0 (head 0)
            d.putInt(s + 0x40, VirtioBlock.T_IN);
            d.putLong(s + 0x48, (k + 1) & 0xffff);
        }
        Path file = Files.write(dir.resolve("loop.img"), disk);
        try (VirtioDriver drv = new VirtioDriver(VirtioBlock.open(new DiskConfig(file, false, "loop")))) {
            assertThat(drv.negotiate(drv.deviceFeatures())).isTrue();
            DriverQueue q = drv.setupQueue(0, new DriverQueue(drv.gm.memory, 0x1000, avail, 0x3000, 16), NO_VECTOR);
            drv.driverOk();
            q.setDesc(0, header, 16, Virtqueue.F_NEXT, 1);
            q.setDesc(1, avail, VirtioBlock.SECTOR, Virtqueue.F_WRITE | Virtqueue.F_NEXT, 2);
            q.setDesc(2, 0x4000, 1, Virtqueue.F_WRITE, 0);
            drv.gm.memory.writeInt(header, VirtioBlock.T_IN);
            drv.gm.memory.writeLong(header + 8, 0);
            q.publish(0);
            drv.kick(0);
            VirtioDriver.await("the request loop running", () -> q.usedIdx() >= 1000);

            within("suspendIo while the guest keeps the device busy", () -> drv.dev.suspendIo());
            int frozen = q.usedIdx();
            long wakeups = drv.dev.ioStats().loopIterations();
            TimeUnit.MILLISECONDS.sleep(WINDOW_MS); // observation window: nothing may complete while suspended
            assertThat(q.usedIdx()).as("requests completed while I/O was suspended").isEqualTo(frozen);
            assertThat(drv.dev.ioStats().loopIterations() - wakeups).as("I/O thread wake-ups while suspended")
                    .isLessThan(IDLE_WAKEUPS);

            drv.dev.resumeIo();
            VirtioDriver.await("the loop going on after resumeIo", () -> q.usedIdx() != frozen);

            within("a device reset (status 0) while the guest keeps the device busy", () -> drv.setStatus(0));
            int after = q.usedIdx();
            TimeUnit.MILLISECONDS.sleep(WINDOW_MS);
            assertThat(q.usedIdx()).as("requests completed after the reset").isEqualTo(after);
            assertThat(drv.status()).isZero();
        }
    }

    /** Status-machine abuse: the TAP is polled exactly while the device is live. */
    @Test
    void statusMachineAbuseLeavesTheWatchesConsistent() {
        SocketPairBackend backend = new SocketPairBackend();
        try (VirtioDriver drv = new VirtioDriver(new VirtioNet(backend, MacAddress.parse("52:54:00:12:34:58")))) {
            assertThat(drv.negotiate(V1)).isTrue();
            DriverQueue rx = drv.setupQueue(VirtioNet.RX, 0x1000, 16, NO_VECTOR);
            DriverQueue tx = drv.setupQueue(VirtioNet.TX, 0x3000, 16, NO_VECTOR);
            rx.setDesc(0, 0x8000, 2048, Virtqueue.F_WRITE, 0);
            rx.setDesc(1, 0x9000, 2048, Virtqueue.F_WRITE, 0);
            rx.publish(0);
            assertThat(drv.dev.ioStats().armedWatches()).as("before DRIVER_OK").isZero();
            drv.driverOk();
            VirtioDriver.await("the TAP polled while live with buffers", () -> drv.dev.ioStats().armedWatches() == 1);

            // Queue changes while the queue is enabled are ignored (§4.1.4.3.2): it keeps working.
            drv.write(VirtioDriver.COMMON + 0x16, 2, VirtioNet.RX);
            drv.write(VirtioDriver.COMMON + 0x18, 2, 4);
            drv.write(VirtioDriver.COMMON + 0x20, 8, 0x5000);
            drv.write(VirtioDriver.COMMON + 0x1c, 2, 0);
            backend.send(frame(60));
            drv.awaitUsed(rx, 1);
            rx.publish(1);
            drv.kick(VirtioNet.RX);
            VirtioDriver.await("the TAP polled again", () -> drv.dev.ioStats().armedWatches() == 1);

            drv.setStatus(drv.status() | FAILED);
            assertThat(drv.dev.ioStats().armedWatches()).as("after FAILED").isZero();
            drv.setStatus(0);
            assertThat(drv.dev.ioStats().armedWatches()).as("after reset").isZero();

            // A corrupt transmit queue (a descriptor chain that loops) needs a reset: nothing polled.
            assertThat(drv.negotiate(V1)).isTrue();
            drv.gm.memory.fill(0x1000, 0x4000, (byte) 0);
            rx = drv.setupQueue(VirtioNet.RX, 0x1000, 16, NO_VECTOR);
            tx = drv.setupQueue(VirtioNet.TX, 0x3000, 16, NO_VECTOR);
            rx.setDesc(0, 0x8000, 2048, Virtqueue.F_WRITE, 0);
            rx.publish(0);
            drv.driverOk();
            VirtioDriver.await("the TAP polled", () -> drv.dev.ioStats().armedWatches() == 1);
            tx.setDesc(0, 0x8000, 64, Virtqueue.F_NEXT, 0);
            tx.publish(0);
            drv.kick(VirtioNet.TX);
            VirtioDriver.await("DEVICE_NEEDS_RESET", () -> (drv.status() & DEVICE_NEEDS_RESET) != 0);
            assertThat(drv.dev.ioStats().armedWatches()).as("after NEEDS_RESET").isZero();
            backend.send(frame(60));
            assertIdle(drv, "net I/O thread of a device that needs a reset, with a frame on the TAP");
        }
    }

    private static byte[] frame(int payload) {
        byte[] f = new byte[VirtioNet.HDR + payload];
        for (int i = VirtioNet.HDR; i < f.length; i++) {
            f[i] = (byte) i;
        }
        return f;
    }

    /** The device's I/O thread does not wake up (spin) during an observation window. */
    private static void assertIdle(VirtioDriver drv, String what) {
        long before = drv.dev.ioStats().loopIterations();
        ThreadCost cost0 = ThreadCost.of(drv.dev.ioStats().threadId());
        try {
            TimeUnit.MILLISECONDS.sleep(WINDOW_MS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
        long wakeups = drv.dev.ioStats().loopIterations() - before;
        ThreadCost cost = ThreadCost.of(drv.dev.ioStats().threadId()).since(cost0);
        assertThat(wakeups).as("%s: poll wake-ups in %d ms (%s)", what, WINDOW_MS, cost).isLessThan(IDLE_WAKEUPS);
    }

    private interface Action {
        void run() throws Exception;
    }

    /** Runs {@code action} on another thread and fails if it has not returned within the hang detector's time. */
    private static void within(String what, Action action) throws Exception {
        CompletableFuture<Void> done = new CompletableFuture<>();
        Thread t = Thread.ofPlatform().daemon(true).name("hostile-test").start(() -> {
            try {
                action.run();
                done.complete(null);
            } catch (Throwable e) {
                done.completeExceptionally(e);
            }
        });
        try {
            done.get(HANG_S, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            fail(what + ": still blocked after " + HANG_S + " s (thread " + t.getName() + " in " + t.getState() + ")");
        }
    }

    /** A device whose request handler throws the given Error once. */
    private static final class ThrowingDevice implements VirtioDevice {
        private final AtomicReference<Error> next;
        private VirtioContext context;

        ThrowingDevice(AtomicReference<Error> next) {
            this.next = next;
        }

        @Override
        public int deviceType() {
            return VirtioRng.DEVICE_TYPE;
        }

        @Override
        public int pciClassCode() {
            return 0xff_00_00;
        }

        @Override
        public int queueCount() {
            return 1;
        }

        @Override
        public int queueMaxSize(int index) {
            return 16;
        }

        @Override
        public long deviceFeatures() {
            return 0;
        }

        @Override
        public int configSize() {
            return 0;
        }

        @Override
        public void readConfig(int offset, byte[] dst) {}

        @Override
        public void activate(VirtioContext ctx) {
            context = ctx;
        }

        @Override
        public void queueNotified(int index) throws VirtqueueException {
            context.drain(index, c -> {
                Error e = next.getAndSet(null);
                if (e != null) {
                    throw e;
                }
                return c.writableLength();
            });
        }

        @Override
        public void reset() {
            context = null;
        }
    }
}
