package io.jkvm.device.virtio.vsock;

import io.jkvm.device.virtio.DriverQueue;
import io.jkvm.device.virtio.VirtioDriver;
import io.jkvm.device.virtio.pci.VirtioPciState;
import io.jkvm.snapshot.DeviceMismatchException;
import io.jkvm.vmm.DeviceStateFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * As in Firecracker: a snapshot keeps the guest CID and the queues, not host connections; the
 * restored device (here on another uds_path, as {@code vsock_override} would give it) tells the
 * guest with VIRTIO_VSOCK_EVENT_TRANSPORT_RESET on the event queue (virtio 1.2 §5.10.6.6).
 */
class VsockSnapshotTest {
    @TempDir
    Path dir;
    @TempDir
    Path other;

    @Test
    @Timeout(30)
    void aRestoredDeviceSendsTransportResetOnTheEventQueue() throws Exception {
        try (VsockGuest g = new VsockGuest(dir)) {
            g.ev.setDesc(0, 0xf000, 4, 2 /* VIRTQ_DESC_F_WRITE */, 0);
            g.ev.publish(0);
            g.drv.kick(VirtioVsock.EVENT);
            g.drv.syncIo();
            assertThat(g.ev.usedIdx()).as("no event before a restore").isZero();
            g.drv.dev.suspendIo();
            VirtioPciState s = g.drv.dev.save();
            assertThat(s.device()).isEqualTo(new VirtioVsock.State(VsockGuest.CID));
            VirtioPciState decoded = DeviceStateFormat.CODECS.decode(DeviceStateFormat.CODECS.encode("vsock0", s),
                    VirtioPciState.class);
            assertThat(decoded.device()).isEqualTo(s.device());

            try (VirtioDriver b = VirtioDriver.restored(new VirtioVsock(VsockGuest.CID, other.resolve("v.sock")),
                    g.drv.copyOfMemory(), decoded)) {
                DriverQueue ev = new DriverQueue(b.gm.memory, 0x1800, 16);
                b.awaitUsed(ev, 1);
                assertThat(ev.usedElem(0)).containsExactly(0, 4);
                assertThat(b.gm.memory.readInt(0xf000)).as("VIRTIO_VSOCK_EVENT_TRANSPORT_RESET").isZero();
            }
        }
    }

    @Test
    void aStateOfAnotherCidIsRefused() throws Exception {
        try (VsockGuest g = new VsockGuest(dir)) {
            g.drv.dev.suspendIo();
            VirtioPciState s = g.drv.dev.save();
            VirtioVsock wrong = new VirtioVsock(VsockGuest.CID + 1, other.resolve("v.sock"));
            try {
                assertThatThrownBy(() -> VirtioDriver.restored(wrong, g.drv.copyOfMemory(), s))
                        .isInstanceOf(DeviceMismatchException.class).hasMessageContaining("guest_cid 3");
            } finally {
                wrong.close();
            }
        }
    }

    @Test
    void stateRecordsRefuseImpossibleCids() {
        assertThatThrownBy(() -> new VirtioVsock.State(2)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new VirtioVsock.State(1L << 32)).isInstanceOf(IllegalArgumentException.class);
    }
}
