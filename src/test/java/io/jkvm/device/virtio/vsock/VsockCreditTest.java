package io.jkvm.device.virtio.vsock;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;

import static io.jkvm.device.virtio.vsock.VsockHeader.*;
import static org.assertj.core.api.Assertions.assertThat;

/** Credit-based flow control (virtio 1.2 §5.10.6.3) in both directions. */
class VsockCreditTest {
    @TempDir
    Path dir;

    /** Opens guest port 40000 -> host port {@code port} with a listener; returns the host end. */
    private static SocketChannel open(VsockGuest g, ServerSocketChannel l, int port) throws Exception {
        g.postRx();
        g.send(OP_REQUEST, 40000, port, new byte[0]);
        assertThat(g.receive().h().op()).isEqualTo(OP_RESPONSE);
        return l.accept();
    }

    private ServerSocketChannel listen(int port) throws Exception {
        ServerSocketChannel l = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        l.bind(UnixDomainSocketAddress.of(dir.resolve("v.sock_" + port)));
        return l;
    }

    @Test
    @Timeout(30)
    void theDeviceNeverSendsMoreThanTheGuestsCredit() throws Exception {
        try (VsockGuest g = new VsockGuest(dir); ServerSocketChannel l = listen(5001)) {
            g.bufAlloc = 8192;
            try (SocketChannel host = open(g, l, 5001)) {
                host.write(ByteBuffer.allocate(20000)); // the socket buffer takes it all
                long got = 0;
                while (got < 8192) {
                    VsockGuest.Packet p = g.receive();
                    assertThat(p.h().op()).isEqualTo(OP_RW);
                    got += p.payload().length;
                }
                assertThat(got).as("exactly the credit").isEqualTo(8192);
                g.drv.kick(VirtioVsock.RX);
                g.drv.syncIo();
                assertThat(g.poll()).as("nothing beyond buf_alloc - (tx_cnt - fwd_cnt)").isNull();

                // The guest consumed it all: a credit update lets the next 8 KiB through.
                g.fwdCnt = 8192;
                g.send(OP_CREDIT_UPDATE, 40000, 5001, new byte[0]);
                while (got < 16384) {
                    got += g.receive().payload().length;
                }
                assertThat(got).isEqualTo(16384);
                g.drv.kick(VirtioVsock.RX);
                g.drv.syncIo();
                assertThat(g.poll()).isNull();
            }
            g.assertHealthy();
        }
    }

    @Test
    @Timeout(30)
    void aCreditRequestIsAnsweredWithOurBufferAndForwardCount() throws Exception {
        try (VsockGuest g = new VsockGuest(dir); ServerSocketChannel l = listen(5002); SocketChannel host = open(g, l, 5002)) {
            g.send(OP_RW, 40000, 5002, new byte[100]);
            host.read(ByteBuffer.allocate(100));
            g.send(OP_CREDIT_REQUEST, 40000, 5002, new byte[0]);
            VsockGuest.Packet p = g.receive();
            assertThat(p.h().op()).isEqualTo(OP_CREDIT_UPDATE);
            assertThat(p.h().bufAlloc()).isEqualTo(VirtioVsock.BUF_ALLOC);
            assertThat(p.h().fwdCnt()).as("the 100 bytes went to the host socket").isEqualTo(100);
        }
    }

    /**
     * A guest that keeps to the credit it hears of moves 2 MiB through a 256 KiB window: it
     * stalls for ever unless the device tells it of freed space (CREDIT_UPDATE) as the host reads.
     */
    @Test
    @Timeout(60)
    void aWellBehavedGuestIsNeverStarvedOfCredit() throws Exception {
        try (VsockGuest g = new VsockGuest(dir); ServerSocketChannel l = listen(5003); SocketChannel host = open(g, l, 5003)) {
            long total = 2L << 20;
            AtomicLong read = new AtomicLong();
            Thread reader = Thread.ofPlatform().start(() -> {
                ByteBuffer b = ByteBuffer.allocate(65536);
                try {
                    while (read.get() < total) {
                        b.clear();
                        int n = host.read(b);
                        if (n < 0) {
                            return;
                        }
                        read.addAndGet(n);
                    }
                } catch (java.io.IOException e) {
                    // the test fails on the count below
                }
            });
            long peerAlloc = VirtioVsock.BUF_ALLOC;
            long peerFwd = 0;
            long sent = 0;
            byte[] chunk = new byte[4000];
            while (sent < total) {
                long credit = peerAlloc - (sent - peerFwd);
                if (credit < chunk.length) {
                    VsockGuest.Packet p = g.receive(); // waits for the device's CREDIT_UPDATE (fails if none comes)
                    assertThat(p.h().op()).isEqualTo(OP_CREDIT_UPDATE);
                    peerAlloc = Integer.toUnsignedLong(p.h().bufAlloc());
                    peerFwd = Integer.toUnsignedLong(p.h().fwdCnt());
                    continue;
                }
                g.send(OP_RW, 40000, 5003, chunk);
                sent += chunk.length;
                VsockGuest.Packet p;
                while ((p = g.poll()) != null) {
                    peerAlloc = Integer.toUnsignedLong(p.h().bufAlloc());
                    peerFwd = Integer.toUnsignedLong(p.h().fwdCnt());
                }
            }
            reader.join(30_000);
            assertThat(read.get()).isEqualTo(sent);
            g.assertHealthy();
        }
    }

    /** A guest ignoring our credit, with a host that reads nothing, is reset once our 256 KiB are full. */
    @Test
    @Timeout(60)
    void aGuestBeyondOurCreditIsResetAndNothingGrowsPastBufAlloc() throws Exception {
        try (VsockGuest g = new VsockGuest(dir); ServerSocketChannel l = listen(5004); SocketChannel host = open(g, l, 5004)) {
            byte[] chunk = new byte[4000];
            long sent = 0;
            VsockGuest.Packet rst = null;
            while (rst == null) {
                assertThat(sent).as("reset before 4 MiB").isLessThan(4L << 20);
                g.send(OP_RW, 40000, 5004, chunk);
                sent += chunk.length;
                VsockGuest.Packet p;
                while ((p = g.poll()) != null) {
                    if (p.h().op() == OP_RST) {
                        rst = p;
                    }
                }
            }
            assertThat(sent).as("the host socket buffer plus our 256 KiB were full").isGreaterThan(VirtioVsock.BUF_ALLOC);
            assertThat(rst.h().srcPort()).isEqualTo(5004);
            g.drv.syncIo();
            assertThat(g.dev.connectionCount()).isZero();
            g.assertHealthy();
        }
    }
}
