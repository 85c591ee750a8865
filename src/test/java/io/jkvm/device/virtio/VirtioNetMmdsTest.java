package io.jkvm.device.virtio;

import io.jkvm.device.virtio.pci.VirtioPciDevice;
import io.jkvm.mmds.LinkLocal;
import io.jkvm.mmds.MmdsStack;
import io.jkvm.mmds.MmdsStore;
import io.jkvm.net.MacAddress;
import io.jkvm.resources.Throttle;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * virtio-net with the MMDS bound: frames for the MMDS address go to its stack, never to the TAP;
 * its answers are delivered on the receive queue before the TAP's frames, even when the TAP is
 * silent; other frames pass through unchanged.
 */
class VirtioNetMmdsTest {
    private static final MacAddress MAC = MacAddress.parse("52:54:00:12:34:56");
    private static final byte[] GUEST_MAC = {0x52, 0x54, 0, 0x12, 0x34, 0x56};

    private static byte[] arpRequest(int target) {
        byte[] f = new byte[VirtioNet.HDR + 42];
        int e = VirtioNet.HDR;
        Arrays.fill(f, e, e + 6, (byte) 0xff);
        System.arraycopy(GUEST_MAC, 0, f, e + 6, 6);
        f[e + 12] = 0x08;
        f[e + 13] = 0x06;
        f[e + 15] = 1;
        f[e + 16] = 0x08;
        f[e + 18] = 6;
        f[e + 19] = 4;
        f[e + 21] = 1;
        System.arraycopy(GUEST_MAC, 0, f, e + 22, 6);
        put32(f, e + 28, 0xA9FE0001);
        put32(f, e + 38, target);
        return f;
    }

    private static void put32(byte[] b, int off, int v) {
        b[off] = (byte) (v >>> 24);
        b[off + 1] = (byte) (v >>> 16);
        b[off + 2] = (byte) (v >>> 8);
        b[off + 3] = (byte) v;
    }

    private static VirtioNet device(SocketPairBackend be) {
        return new VirtioNet(be, MAC, Throttle.unlimited(), Throttle.unlimited(), new IoStats(),
                new MmdsStack(LinkLocal.DEFAULT, new MmdsStore(1024)));
    }

    private static void transmit(VirtioDriver drv, DriverQueue tx, int slot, byte[] frame) {
        drv.gm.memory.write(0xA000 + 0x800L * slot, frame, 0, frame.length);
        tx.setDesc(slot, 0xA000 + 0x800L * slot, frame.length, 0, 0);
        tx.publish(slot);
        drv.kick(VirtioNet.TX);
    }

    @Test
    void anArpRequestForTheMmdsIsAnsweredInsideAndNeverReachesTheTap() {
        SocketPairBackend be = new SocketPairBackend();
        try (VirtioDriver drv = new VirtioDriver(device(be))) {
            assertThat(drv.negotiate(VirtioFeatures.bit(VirtioFeatures.VERSION_1) | VirtioFeatures.bit(VirtioNet.F_MAC)))
                    .isTrue();
            DriverQueue rx = drv.setupQueue(VirtioNet.RX, 0x1000, 16, VirtioPciDevice.NO_VECTOR);
            DriverQueue tx = drv.setupQueue(VirtioNet.TX, 0x3000, 16, VirtioPciDevice.NO_VECTOR);
            drv.driverOk();
            rx.setDesc(0, 0x9000, 2048, Virtqueue.F_WRITE, 0);
            rx.publish(0);
            drv.kick(VirtioNet.RX);

            transmit(drv, tx, 0, arpRequest(LinkLocal.DEFAULT));
            drv.awaitUsed(tx, 1);
            drv.awaitUsed(rx, 1);
            assertThat(rx.usedElem(0)).containsExactly(0, VirtioNet.HDR + 42);
            byte[] got = drv.gm.memory.read(0x9000, VirtioNet.HDR + 42);
            assertThat(Arrays.copyOfRange(got, 0, 10)).as("zeroed header").containsOnly((byte) 0);
            assertThat(got[10]).as("num_buffers").isEqualTo((byte) 1);
            assertThat(Arrays.copyOfRange(got, VirtioNet.HDR, VirtioNet.HDR + 6)).isEqualTo(GUEST_MAC);
            assertThat(Arrays.copyOfRange(got, VirtioNet.HDR + 6, VirtioNet.HDR + 12)).isEqualTo(MmdsStack.MAC);
            assertThat(got[VirtioNet.HDR + 21]).as("ARP reply").isEqualTo((byte) 2);
            assertThat(be.receive()).as("nothing on the TAP").isNull();

            // An ARP request for another address is the TAP's.
            byte[] other = arpRequest(0xA9FE0002);
            transmit(drv, tx, 1, other);
            drv.awaitUsed(tx, 2);
            AtomicReference<byte[]> onTap = new AtomicReference<>();
            VirtioDriver.await("frame on the TAP", () -> {
                if (onTap.get() == null) {
                    onTap.set(be.receive());
                }
                return onTap.get() != null;
            });
            assertThat(onTap.get()).isEqualTo(other);
        }
    }

    @Test
    void theMmdsAnswersBeforeTheTapsFrames() {
        SocketPairBackend be = new SocketPairBackend();
        try (VirtioDriver drv = new VirtioDriver(device(be))) {
            assertThat(drv.negotiate(VirtioFeatures.bit(VirtioFeatures.VERSION_1) | VirtioFeatures.bit(VirtioNet.F_MRG_RXBUF)))
                    .isTrue();
            DriverQueue rx = drv.setupQueue(VirtioNet.RX, 0x1000, 16, VirtioPciDevice.NO_VECTOR);
            DriverQueue tx = drv.setupQueue(VirtioNet.TX, 0x3000, 16, VirtioPciDevice.NO_VECTOR);
            drv.driverOk();
            // No receive buffers yet: the answer waits in the stack, the TAP's frame in the TAP.
            transmit(drv, tx, 0, arpRequest(LinkLocal.DEFAULT));
            drv.awaitUsed(tx, 1);
            byte[] tapFrame = new byte[VirtioNet.HDR + 60];
            Arrays.fill(tapFrame, VirtioNet.HDR, tapFrame.length, (byte) 0x77);
            be.send(tapFrame);
            for (int i = 0; i < 4; i++) {
                rx.setDesc(i, 0x8000 + 0x1000L * i, 0x1000, Virtqueue.F_WRITE, 0);
                rx.publish(i);
            }
            drv.kick(VirtioNet.RX);
            drv.awaitUsed(rx, 2);
            assertThat(rx.usedElem(0)).containsExactly(0, VirtioNet.HDR + 42);
            assertThat(drv.gm.memory.read(0x8000 + VirtioNet.HDR + 21, 1)[0]).isEqualTo((byte) 2);
            assertThat(rx.usedElem(1)).containsExactly(1, tapFrame.length);
        }
    }
}
