package io.jkvm.device.virtio.vsock;

import io.jkvm.device.virtio.DeviceStatus;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static io.jkvm.device.virtio.vsock.VsockHeader.*;
import static org.assertj.core.api.Assertions.assertThat;

/** What a guest or host client can make the device hold is bounded, and a driver reset lets go of everything. */
class VsockLimitsTest {
    @TempDir
    Path dir;

    /**
     * A guest that sends and never receives: each REQUEST to a port where nothing listens queues an
     * RST; at {@link VirtioVsock#MAX_CONTROL} queued the transmit queue is held (the chain stays
     * available), and it moves again once the guest takes the RSTs.
     */
    @Test
    @Timeout(60)
    void uncollectedControlPacketsHoldTheTransmitQueue() throws Exception {
        try (VsockGuest g = new VsockGuest(dir)) {
            for (int i = 0; i < VirtioVsock.MAX_CONTROL; i++) {
                g.send(OP_REQUEST, 50000 + i, 9000, new byte[0]);
            }
            g.drv.syncIo();
            assertThat(g.dev.controlBacklog()).isEqualTo(VirtioVsock.MAX_CONTROL);
            int published = g.publishRaw(g.hdr(OP_REQUEST, 60000, 9000, 0, 0).encode(), new byte[0]);
            g.drv.syncIo();
            assertThat(g.tx.usedIdx()).as("held on the available ring").isEqualTo(published - 1);
            assertThat(g.dev.controlBacklog()).isEqualTo(VirtioVsock.MAX_CONTROL);

            g.postRx();
            int rsts = 0;
            while (rsts < VirtioVsock.MAX_CONTROL + 1) {
                assertThat(g.receive().h().op()).isEqualTo(OP_RST);
                rsts++;
            }
            assertThat(g.tx.usedIdx()).as("the held chain was served").isEqualTo(published);
            g.assertHealthy();
        }
    }

    /**
     * Host clients that connect and never send their CONNECT line fill the waiting slots only until
     * their deadline: then they are closed, and a well-behaved client gets through again.
     */
    @Test
    @Timeout(60)
    void hostClientsThatNeverSendTheirLineAreClosedAtTheirDeadline() throws Exception {
        List<SocketChannel> idle = new ArrayList<>();
        try (VsockGuest g = new VsockGuest(dir)) {
            for (int i = 0; i < VirtioVsock.MAX_HOST_CLIENTS; i++) {
                idle.add(VsockEndToEndTest.connect(g.uds));
            }
            SocketChannel refused = VsockEndToEndTest.connect(g.uds);
            idle.add(refused);
            assertThat(refused.read(ByteBuffer.allocate(1))).as("closed: every slot is held").isEqualTo(-1);
            // The device's own timer closes them at the deadline; a blocking read returns at that EOF.
            for (SocketChannel c : idle.subList(0, VirtioVsock.MAX_HOST_CLIENTS)) {
                assertThat(c.read(ByteBuffer.allocate(1))).as("closed at its deadline").isEqualTo(-1);
            }
            SocketChannel late = VsockEndToEndTest.connect(g.uds);
            idle.add(late);
            VsockEndToEndTest.write(late, "CONNECT 2000\n");
            io.jkvm.device.virtio.VirtioDriver.await("the late client's connection", () -> {
                g.drv.syncIo();
                return g.dev.connectionCount() == 1;
            });
            g.assertHealthy();
        } finally {
            for (SocketChannel c : idle) {
                c.close();
            }
        }
    }

    /** Host-initiated connections beyond {@link VirtioVsock#MAX_CONNECTIONS} are closed at once. */
    @Test
    @Timeout(60)
    void hostClientsBeyondTheConnectionLimitAreClosed() throws Exception {
        List<SocketChannel> clients = new ArrayList<>();
        try (VsockGuest g = new VsockGuest(dir)) {
            for (int i = 0; i < VirtioVsock.MAX_CONNECTIONS; i++) {
                SocketChannel c = VsockEndToEndTest.connect(g.uds);
                clients.add(c);
                VsockEndToEndTest.write(c, "CONNECT " + (2000 + i) + "\n");
                int want = i + 1;
                io.jkvm.device.virtio.VirtioDriver.await(want + " connections", () -> {
                    g.drv.syncIo();
                    return g.dev.connectionCount() == want;
                });
            }
            SocketChannel extra = VsockEndToEndTest.connect(g.uds);
            clients.add(extra);
            assertThat(extra.read(ByteBuffer.allocate(1))).as("closed: no room").isEqualTo(-1);
            g.drv.syncIo();
            assertThat(g.dev.connectionCount()).isEqualTo(VirtioVsock.MAX_CONNECTIONS);
            g.assertHealthy();
        } finally {
            for (SocketChannel c : clients) {
                c.close();
            }
        }
    }

    /** A driver reset (§2.4) drops every connection: the host side sees end of file. */
    @Test
    @Timeout(30)
    void aDriverResetClosesTheHostSockets() throws Exception {
        try (VsockGuest g = new VsockGuest(dir);
                ServerSocketChannel l = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            l.bind(UnixDomainSocketAddress.of(dir.resolve("v.sock_7100")));
            g.postRx();
            g.send(OP_REQUEST, 41000, 7100, new byte[0]);
            assertThat(g.receive().h().op()).isEqualTo(OP_RESPONSE);
            try (SocketChannel host = l.accept()) {
                g.drv.setStatus(0);
                assertThat(host.read(ByteBuffer.allocate(1))).isEqualTo(-1);
                assertThat(g.drv.status() & DeviceStatus.DEVICE_NEEDS_RESET).isZero();
                g.drv.syncIo();
                assertThat(g.dev.connectionCount()).isZero();
            }
        }
    }
}
