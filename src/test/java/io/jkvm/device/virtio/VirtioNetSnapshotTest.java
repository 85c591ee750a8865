package io.jkvm.device.virtio;

import io.jkvm.device.virtio.pci.VirtioPciDevice;
import io.jkvm.device.virtio.pci.VirtioPciState;
import io.jkvm.memory.GuestMemory;
import io.jkvm.net.MacAddress;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * virtio-net holds receive chains it popped but could not fill yet (too small for the largest
 * frame with mergeable buffers). A snapshot records them by head and the restored device parses
 * them again, so the next frame lands in the first of them, as it would have without the snapshot.
 */
class VirtioNetSnapshotTest {
    private static final MacAddress MAC = MacAddress.parse("52:54:00:12:34:56");
    private static final long FEATURES = VirtioFeatures.bit(VirtioFeatures.VERSION_1) | VirtioFeatures.bit(VirtioNet.F_MAC)
            | VirtioFeatures.bit(VirtioNet.F_MRG_RXBUF);

    @Test
    void stashedReceiveChainsSurviveASnapshot() throws Exception {
        SocketPairBackend beA = new SocketPairBackend();
        SocketPairBackend beB = new SocketPairBackend();
        try (VirtioDriver a = new VirtioDriver(new VirtioNet(beA, MAC))) {
            assertThat(a.negotiate(FEATURES)).isTrue();
            DriverQueue rx = a.setupQueue(VirtioNet.RX, 0x1000, 16, VirtioPciDevice.NO_VECTOR);
            a.setupQueue(VirtioNet.TX, 0x3000, 16, VirtioPciDevice.NO_VECTOR);
            a.driverOk();
            // 1 KiB cannot hold a 1518-byte frame plus header: the device pops it and keeps it.
            rx.setDesc(0, 0x8000, 1024, Virtqueue.F_WRITE, 0);
            rx.publish(0);
            a.kick(VirtioNet.RX);
            VirtioPciState s = null;
            long deadline = System.nanoTime() + VirtioDriver.WAIT.toNanos();
            while (s == null) {
                a.dev.suspendIo();
                VirtioPciState now = a.dev.save();
                if (now.queues().get(VirtioNet.RX).position().lastAvail() == 1) {
                    s = now;
                } else {
                    assertThat(System.nanoTime()).as("the device pops the chain").isLessThan(deadline);
                    a.dev.resumeIo();
                    Thread.onSpinWait();
                }
            }
            assertThat(s.queues().get(VirtioNet.RX).position().usedIdx()).isZero();
            assertThat(s.device()).as("one stashed chain, head 0").isEqualTo(new VirtioNet.State(new int[] {0}));

            try (VirtioDriver b = VirtioDriver.restored(new VirtioNet(beB, MAC), a.copyOfMemory(), s)) {
                DriverQueue rxB = new DriverQueue(b.gm.memory, 0x1000, 16);
                rxB.setAvailIdx(1);
                rxB.setDesc(1, 0x9000, 1024, Virtqueue.F_WRITE, 0);
                rxB.publish(1);
                byte[] frame = new byte[VirtioNet.HDR + 100];
                Arrays.fill(frame, VirtioNet.HDR, frame.length, (byte) 0x5a);
                beB.send(frame);
                b.kick(VirtioNet.RX);
                b.awaitUsed(rxB, 1);
                assertThat(rxB.usedElem(0)).as("the frame went into the restored stashed chain").containsExactly(0, frame.length);
                assertThat(b.gm.memory.read(0x8000 + VirtioNet.HDR, 100)).containsOnly((byte) 0x5a);
            }
        }
    }
}
