package io.jkvm.device.virtio;

import io.jkvm.device.virtio.pci.VirtioPciDevice;
import io.jkvm.net.MacAddress;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

class VirtioNetTest {
    private static final MacAddress MAC = MacAddress.parse("52:54:00:12:34:56");

    private static byte[] frame(int payload, byte fill) {
        byte[] f = new byte[VirtioNet.HDR + payload];
        Arrays.fill(f, VirtioNet.HDR, f.length, fill);
        return f;
    }

    @Test
    void transmitAndReceiveWithoutMergeableBuffers() {
        SocketPairBackend be = new SocketPairBackend();
        try (VirtioDriver drv = new VirtioDriver(new VirtioNet(be, MAC))) {
            assertThat(drv.read(0x2000, 4)).isEqualTo(0x00_54_52L | 0x12L << 24);
            assertThat(drv.read(0x2006, 2)).as("link up").isEqualTo(1);
            long f = VirtioFeatures.bit(VirtioFeatures.VERSION_1) | VirtioFeatures.bit(VirtioNet.F_MAC)
                    | VirtioFeatures.bit(VirtioNet.F_GUEST_CSUM);
            assertThat(drv.negotiate(f)).isTrue();
            Queues queues = Queues.start(drv);
            DriverQueue rx = queues.rx();
            DriverQueue tx = queues.tx();
            assertThat(be.csum).as("GUEST_CSUM enables checksum offload on the backend").isTrue();

            // TX: header and payload split over two readable buffers, gathered into one frame.
            byte[] out = frame(60, (byte) 0x11);
            drv.gm.memory.write(0x8000, out, 0, VirtioNet.HDR);
            drv.gm.memory.write(0x8100, out, VirtioNet.HDR, 60);
            tx.setDesc(0, 0x8000, VirtioNet.HDR, Virtqueue.F_NEXT, 1);
            tx.setDesc(1, 0x8100, 60, 0, 0);
            tx.publish(0);
            drv.kick(VirtioNet.TX);
            drv.awaitUsed(tx, 1);
            AtomicReference<byte[]> got = new AtomicReference<>();
            VirtioDriver.await("frame on the backend", () -> {
                if (got.get() == null) {
                    got.set(be.receive());
                }
                return got.get() != null;
            });
            assertThat(got.get()).isEqualTo(out);

            // RX: the frame arrives before any buffer; it is delivered once the guest posts one.
            byte[] in = frame(100, (byte) 0x22);
            be.send(in);
            rx.setDesc(0, 0x9000, 2048, Virtqueue.F_WRITE, 0);
            rx.publish(0);
            drv.kick(VirtioNet.RX);
            drv.awaitUsed(rx, 1);
            assertThat(rx.usedElem(0)[1]).isEqualTo(in.length);
            byte[] delivered = drv.gm.memory.read(0x9000, in.length);
            assertThat(delivered[10]).as("num_buffers").isEqualTo((byte) 1);
            assertThat(Arrays.copyOfRange(delivered, VirtioNet.HDR, in.length))
                    .isEqualTo(Arrays.copyOfRange(in, VirtioNet.HDR, in.length));
        }
    }

    @Test
    void mergeableBuffersSpreadALargeFrame() {
        SocketPairBackend be = new SocketPairBackend();
        try (VirtioDriver drv = new VirtioDriver(new VirtioNet(be, MAC))) {
            long f = VirtioFeatures.bit(VirtioFeatures.VERSION_1) | VirtioFeatures.bit(VirtioNet.F_MRG_RXBUF);
            assertThat(drv.negotiate(f)).isTrue();
            Queues queues = Queues.start(drv);
            DriverQueue rx = queues.rx();
            for (int i = 0; i < 4; i++) {
                rx.setDesc(i, 0x8000 + 1024L * i, 1024, Virtqueue.F_WRITE, 0);
                rx.publish(i);
            }
            byte[] in = frame(1500, (byte) 0x33);
            be.send(in);
            drv.kick(VirtioNet.RX);
            drv.awaitUsed(rx, 2);
            assertThat(rx.usedElem(0)).containsExactly(0, 1024);
            assertThat(rx.usedElem(1)).containsExactly(1, in.length - 1024);
            assertThat(drv.gm.memory.readShort(0x8000 + 10)).as("num_buffers").isEqualTo((short) 2);
            // The two unused buffers take the next frame.
            be.send(frame(40, (byte) 0x44));
            drv.awaitUsed(rx, 3);
            assertThat(rx.usedElem(2)).containsExactly(2, VirtioNet.HDR + 40);
        }
    }

    /** Both queues set up (16 entries each, no MSI-X vector) and DRIVER_OK written, after the features were negotiated. */
    private record Queues(DriverQueue rx, DriverQueue tx) {
        static Queues start(VirtioDriver drv) {
            DriverQueue rx = drv.setupQueue(VirtioNet.RX, 0x1000, 16, VirtioPciDevice.NO_VECTOR);
            DriverQueue tx = drv.setupQueue(VirtioNet.TX, 0x3000, 16, VirtioPciDevice.NO_VECTOR);
            drv.driverOk();
            return new Queues(rx, tx);
        }
    }

    private static long features(int... bits) {
        long f = VirtioFeatures.bit(VirtioFeatures.VERSION_1);
        for (int b : bits) {
            f |= VirtioFeatures.bit(b);
        }
        return f;
    }

    @Test
    void theConfigSpaceHasTheMacTheLinkUpAndOneQueuePairAndNoFeatureItDoesNotImplement() {
        SocketPairBackend be = new SocketPairBackend();
        try (VirtioDriver drv = new VirtioDriver(new VirtioNet(be, MAC))) {
            long mac = drv.read(0x2000, 4) | drv.read(0x2004, 2) << 32;
            assertThat(mac).isEqualTo(0x56_34_12_00_54_52L);
            assertThat(drv.read(0x2006, 2)).as("status: VIRTIO_NET_S_LINK_UP").isEqualTo(1);
            assertThat(drv.read(0x2008, 2)).as("max_virtqueue_pairs").isEqualTo(1);
            long offered = drv.deviceFeatures();
            assertThat(offered & VirtioFeatures.bit(VirtioNet.F_MRG_RXBUF)).isNotZero();
            assertThat(offered & VirtioFeatures.bit(VirtioNet.F_STATUS)).isNotZero();
            // No control queue (17), multiqueue (22) or guest announce (21): the device has one RX/TX pair.
            for (int absent : new int[] {17, 21, 22}) {
                assertThat(offered & VirtioFeatures.bit(absent)).as("feature bit %d", absent).isZero();
            }
        }
    }

    @Test
    void receiveOffloadsFollowTheNegotiatedFeaturesAndSegmentationNeedsChecksums() {
        // §5.1.3.1: GUEST_TSO4 requires GUEST_CSUM; the backend gets segmentation only with both.
        SocketPairBackend alone = new SocketPairBackend();
        try (VirtioDriver drv = new VirtioDriver(new VirtioNet(alone, MAC))) {
            drv.negotiate(features(VirtioNet.F_GUEST_TSO4));
            Queues.start(drv);
            assertThat(alone.csum).isFalse();
            assertThat(alone.tso4).isFalse();
        }
        SocketPairBackend both = new SocketPairBackend();
        try (VirtioDriver drv = new VirtioDriver(new VirtioNet(both, MAC))) {
            assertThat(drv.negotiate(features(VirtioNet.F_GUEST_CSUM, VirtioNet.F_GUEST_TSO4, VirtioNet.F_GUEST_TSO6))).isTrue();
            Queues.start(drv);
            assertThat(both.csum).isTrue();
            assertThat(both.tso4).isTrue();
            assertThat(both.tso6).isTrue();
        }
    }

    @Test
    void framesOfOneKickLeaveInOrderAndAChainShorterThanTheHeaderIsDroppedAndReturned() {
        SocketPairBackend be = new SocketPairBackend();
        VirtioNet net = new VirtioNet(be, MAC);
        try (VirtioDriver drv = new VirtioDriver(net)) {
            drv.negotiate(features());
            Queues queues = Queues.start(drv);
            DriverQueue tx = queues.tx();
            byte[][] frames = {frame(60, (byte) 1), frame(8, (byte) 2), frame(1500, (byte) 3)};
            for (int i = 0; i < frames.length; i++) {
                if (i == 1) {
                    // A driver bug or a hostile guest: 8 bytes, not even a virtio-net header.
                    tx.setDesc(i, 0x8000 + 0x1000L * i, 8, 0, 0);
                } else {
                    drv.gm.memory.write(0x8000 + 0x1000L * i, frames[i], 0, frames[i].length);
                    tx.setDesc(i, 0x8000 + 0x1000L * i, frames[i].length, 0, 0);
                }
                tx.publish(i);
            }
            drv.kick(VirtioNet.TX);
            drv.awaitUsed(tx, 3);
            assertThat(tx.usedElem(1)).containsExactly(1, 0);
            assertThat(net.txDropped()).isEqualTo(1);
            // A frame is on the TAP before its chain is in the used ring.
            assertThat(be.receive()).isEqualTo(frames[0]);
            assertThat(be.receive()).isEqualTo(frames[2]);
            assertThat(be.receive()).as("the short chain never reached the TAP").isNull();
        }
    }

    @Test
    void aFullTapDropsFramesAsANicWouldAndTheTransmitQueueNeverStalls() {
        SocketPairBackend be = new SocketPairBackend();
        VirtioNet net = new VirtioNet(be, MAC);
        try (VirtioDriver drv = new VirtioDriver(net)) {
            drv.negotiate(features());
            Queues queues = Queues.start(drv);
            DriverQueue tx = queues.tx();
            byte[] big = frame(1500, (byte) 0x55);
            drv.gm.memory.write(0x8000, big, 0, big.length);
            // Nobody reads the TAP's other end: its buffer (a few hundred KiB) fills up.
            int sent = 1000;
            for (int i = 0; i < sent; i++) {
                tx.setDesc(i % 16, 0x8000, big.length, 0, 0);
                tx.publish(i % 16);
                drv.kick(VirtioNet.TX);
                drv.awaitUsed(tx, (i + 1) & 0xffff);
            }
            assertThat(net.txDropped()).as("frames dropped once the TAP was full").isPositive();
            int delivered = 0;
            while (be.receive() != null) {
                delivered++;
            }
            assertThat(delivered + net.txDropped()).isEqualTo(sent);
        }
    }

    @Test
    void aReceiveBufferTooSmallForTheHeaderIsReturnedUnusedAndTheFrameTakesTheNext() {
        SocketPairBackend be = new SocketPairBackend();
        try (VirtioDriver drv = new VirtioDriver(new VirtioNet(be, MAC))) {
            drv.negotiate(features());
            Queues queues = Queues.start(drv);
            DriverQueue rx = queues.rx();
            rx.setDesc(0, 0x8000, 8, Virtqueue.F_WRITE, 0);
            rx.publish(0);
            rx.setDesc(1, 0x9000, 2048, Virtqueue.F_WRITE, 0);
            rx.publish(1);
            byte[] in = frame(64, (byte) 0x66);
            be.send(in);
            drv.kick(VirtioNet.RX);
            drv.awaitUsed(rx, 2);
            assertThat(rx.usedElem(0)).containsExactly(0, 0);
            assertThat(rx.usedElem(1)).containsExactly(1, in.length);
        }
    }

    @Test
    void withMergeableBuffersAFrameWaitsUntilThereIsRoomForTheLargestFrame() {
        SocketPairBackend be = new SocketPairBackend();
        try (VirtioDriver drv = new VirtioDriver(new VirtioNet(be, MAC))) {
            drv.negotiate(features(VirtioNet.F_MRG_RXBUF));
            Queues queues = Queues.start(drv);
            DriverQueue rx = queues.rx();
            // The device reads a frame before it knows its size, so it first gathers room for the
            // largest one (1518 bytes and the header): 1024 bytes are not enough even for 76.
            rx.setDesc(0, 0x8000, 1024, Virtqueue.F_WRITE, 0);
            rx.publish(0);
            byte[] in = frame(64, (byte) 0x77);
            be.send(in);
            drv.kick(VirtioNet.RX);
            drv.syncIo();
            assertThat(rx.usedIdx()).isZero();
            rx.setDesc(1, 0x9000, 1024, Virtqueue.F_WRITE, 0);
            rx.publish(1);
            drv.kick(VirtioNet.RX);
            drv.awaitUsed(rx, 1);
            assertThat(rx.usedElem(0)).containsExactly(0, in.length);
            assertThat(drv.gm.memory.readShort(0x8000 + 10)).as("num_buffers").isEqualTo((short) 1);
            // The second buffer was not used: it waits for the next frame.
            be.send(frame(10, (byte) 0x78));
            rx.setDesc(2, 0xa000, 1024, Virtqueue.F_WRITE, 0);
            rx.publish(2);
            drv.kick(VirtioNet.RX);
            drv.awaitUsed(rx, 2);
            assertThat(rx.usedElem(1)).containsExactly(1, VirtioNet.HDR + 10);
        }
    }
}
