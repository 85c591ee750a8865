package io.jkvm.mmds;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.jkvm.device.virtio.DriverQueue;
import io.jkvm.device.virtio.IoStats;
import io.jkvm.device.virtio.VirtioDriver;
import io.jkvm.device.virtio.VirtioFeatures;
import io.jkvm.device.virtio.VirtioNet;
import io.jkvm.device.virtio.pci.VirtioPciDevice;
import io.jkvm.kvm.Native;
import io.jkvm.net.MacAddress;
import io.jkvm.net.NetBackend;
import io.jkvm.resources.Throttle;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A guest's whole MMDS exchange through a virtio-net device's queues (the TAP a socket pair
 * nobody writes to): SYN, SYN-ACK, a GET, the answer and the close, all over the transmit and
 * receive rings, the TAP silent throughout.
 */
class MmdsOverVirtioNetTest {
    /** A TAP stand-in that never has a frame. */
    private static final class SilentTap implements NetBackend {
        final int[] fds = Native.socketpair(Native.AF_UNIX, Native.SOCK_SEQPACKET | Native.SOCK_NONBLOCK | Native.SOCK_CLOEXEC, 0);

        @Override
        public int fd() {
            return fds[0];
        }

        @Override
        public boolean setOffloads(boolean csum, boolean tso4, boolean tso6) {
            return true;
        }

        @Override
        public void close() {
            Native.close(fds[0]);
            Native.close(fds[1]);
        }
    }

    private int txUsed;
    private int rxSeen;

    private void transmit(VirtioDriver drv, DriverQueue tx, byte[] frame) {
        int slot = txUsed % 16;
        long addr = 0x28000 + 0x800L * slot;
        byte[] withHdr = new byte[VirtioNet.HDR + frame.length];
        System.arraycopy(frame, 0, withHdr, VirtioNet.HDR, frame.length);
        drv.gm.memory.write(addr, withHdr, 0, withHdr.length);
        tx.setDesc(slot, addr, withHdr.length, 0, 0);
        tx.publish(slot);
        drv.kick(VirtioNet.TX);
        drv.awaitUsed(tx, ++txUsed);
    }

    /** The frames delivered since the last call (waits until at least {@code atLeast} more). */
    private List<GuestTcp.Parsed> received(VirtioDriver drv, DriverQueue rx, int atLeast) {
        VirtioDriver.await(atLeast + " frames", () -> rx.usedIdx() >= rxSeen + atLeast);
        drv.syncIo();
        List<GuestTcp.Parsed> out = new ArrayList<>();
        for (; rxSeen < rx.usedIdx(); rxSeen++) {
            int[] e = rx.usedElem(rxSeen);
            byte[] f = drv.gm.memory.read(0x20000 + 0x800L * e[0], e[1]);
            assertThat(f[10]).as("num_buffers").isEqualTo((byte) 1);
            byte[] frame = java.util.Arrays.copyOfRange(f, VirtioNet.HDR, f.length);
            out.add(GuestTcp.parse(frame, frame.length));
        }
        return out;
    }

    @Test
    void aGetOverTheRings() throws Exception {
        MmdsStore store = new MmdsStore(4096);
        store.put(new ObjectMapper().readTree("{\"latest\": {\"meta-data\": {\"ami-id\": \"ami-1\"}}}"));
        VirtioNet net = new VirtioNet(new SilentTap(), MacAddress.parse("52:54:00:12:34:56"), Throttle.unlimited(),
                Throttle.unlimited(), new IoStats(), new MmdsStack(LinkLocal.DEFAULT, store));
        try (VirtioDriver drv = new VirtioDriver(net)) {
            assertThat(drv.negotiate(VirtioFeatures.bit(VirtioFeatures.VERSION_1) | VirtioFeatures.bit(VirtioNet.F_MAC)))
                    .isTrue();
            DriverQueue rx = drv.setupQueue(VirtioNet.RX, 0x1000, 16, VirtioPciDevice.NO_VECTOR);
            DriverQueue tx = drv.setupQueue(VirtioNet.TX, 0x3000, 16, VirtioPciDevice.NO_VECTOR);
            drv.driverOk();
            for (int i = 0; i < 16; i++) {
                rx.setDesc(i, 0x20000 + 0x800L * i, 0x800, 2 /* VIRTQ_DESC_F_WRITE */, 0);
                rx.publish(i);
            }
            drv.kick(VirtioNet.RX);
            int port = 41000;
            int seq = 500;
            int d = LinkLocal.DEFAULT;
            transmit(drv, tx, GuestTcp.tcp(port, 80, seq, 0, GuestTcp.SYN, 65535, new byte[0], d));
            GuestTcp.Parsed synAck = received(drv, rx, 1).getFirst();
            assertThat(synAck.flags()).isEqualTo(GuestTcp.SYN | GuestTcp.ACK);
            int ack = synAck.seq() + 1;
            seq++;
            byte[] req = "GET /latest/meta-data/ami-id HTTP/1.1\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
            transmit(drv, tx, GuestTcp.tcp(port, 80, seq, ack, GuestTcp.ACK | GuestTcp.PSH, 65535, req, d));
            seq += req.length;
            StringBuilder answer = new StringBuilder();
            boolean fin = false;
            for (int i = 0; i < 10 && !fin; i++) {
                for (GuestTcp.Parsed p : received(drv, rx, 1)) {
                    assertThat(p.checksumsOk()).isTrue();
                    if (p.seq() == ack) {
                        answer.append(new String(p.data(), StandardCharsets.ISO_8859_1));
                        ack += p.data().length;
                        if ((p.flags() & GuestTcp.FIN) != 0) {
                            ack++;
                            fin = true;
                        }
                    }
                }
            }
            assertThat(answer.toString()).startsWith("HTTP/1.1 200 OK").endsWith("\r\n\r\nami-1");
            assertThat(fin).isTrue();
            transmit(drv, tx, GuestTcp.tcp(port, 80, seq, ack, GuestTcp.FIN | GuestTcp.ACK, 65535, new byte[0], d));
            assertThat(received(drv, rx, 1).getFirst().ack()).as("our FIN's ACK").isEqualTo(seq + 1);
        }
    }
}
