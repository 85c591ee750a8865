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
            DriverQueue rx = drv.setupQueue(VirtioNet.RX, 0x1000, 16, VirtioPciDevice.NO_VECTOR);
            DriverQueue tx = drv.setupQueue(VirtioNet.TX, 0x3000, 16, VirtioPciDevice.NO_VECTOR);
            drv.driverOk();
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
            DriverQueue rx = drv.setupQueue(VirtioNet.RX, 0x1000, 16, VirtioPciDevice.NO_VECTOR);
            drv.setupQueue(VirtioNet.TX, 0x3000, 16, VirtioPciDevice.NO_VECTOR);
            drv.driverOk();
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
}
