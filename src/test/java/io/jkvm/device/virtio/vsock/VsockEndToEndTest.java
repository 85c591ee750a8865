package io.jkvm.device.virtio.vsock;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

import static io.jkvm.device.virtio.vsock.VsockHeader.*;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The device between a fake guest driver (descriptors in guest memory) and real Unix sockets:
 * Firecracker's hybrid vsock handshake from the host, guest connections to {@code <uds>_<port>},
 * and RST where nothing listens.
 */
class VsockEndToEndTest {
    @TempDir
    Path dir;

    static SocketChannel connect(Path p) throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(p));
        return ch;
    }

    static void write(SocketChannel ch, String s) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(s.getBytes(StandardCharsets.US_ASCII));
        while (b.hasRemaining()) {
            ch.write(b);
        }
    }

    /** Reads exactly {@code n} bytes (blocking; the device answers or the test's timeout fails it). */
    static String read(SocketChannel ch, int n) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(n);
        while (b.hasRemaining()) {
            if (ch.read(b) < 0) {
                throw new IOException("EOF after " + b.position() + " bytes");
            }
        }
        return new String(b.array(), StandardCharsets.US_ASCII);
    }

    static String readLine(SocketChannel ch) throws IOException {
        StringBuilder sb = new StringBuilder();
        String c;
        while (!(c = read(ch, 1)).equals("\n")) {
            sb.append(c);
        }
        return sb.toString();
    }

    @Test
    @org.junit.jupiter.api.Timeout(30)
    void hostConnectReachesAGuestListenerAndBytesFlowBothWays() throws Exception {
        try (VsockGuest g = new VsockGuest(dir); SocketChannel host = connect(dir.resolve("v.sock"))) {
            g.postRx();
            write(host, "CONNECT 1024\n");
            VsockGuest.Packet req = g.receive();
            assertThat(req.h().op()).isEqualTo(OP_REQUEST);
            assertThat(req.h().srcCid()).isEqualTo(VirtioVsock.HOST_CID);
            assertThat(req.h().dstCid()).isEqualTo(VsockGuest.CID);
            assertThat(req.h().dstPort()).isEqualTo(1024);
            assertThat(req.h().type()).isEqualTo(TYPE_STREAM);
            assertThat(req.h().bufAlloc()).isEqualTo(VirtioVsock.BUF_ALLOC);
            int hostPort = req.h().srcPort();
            assertThat(Integer.toUnsignedLong(hostPort)).isGreaterThanOrEqualTo(VsockConnections.FIRST_LOCAL_PORT);

            g.send(OP_RESPONSE, 1024, hostPort, new byte[0]);
            assertThat(readLine(host)).isEqualTo("OK " + Integer.toUnsignedString(hostPort));

            write(host, "ping from host");
            VsockGuest.Packet rw = g.receive();
            assertThat(rw.h().op()).isEqualTo(OP_RW);
            assertThat(rw.h().dstPort()).isEqualTo(1024);
            assertThat(new String(rw.payload(), StandardCharsets.US_ASCII)).isEqualTo("ping from host");

            g.send(OP_RW, 1024, hostPort, "pong from guest".getBytes(StandardCharsets.US_ASCII));
            assertThat(read(host, 15)).isEqualTo("pong from guest");

            // The guest resets: the host connection is closed.
            g.send(OP_RST, 1024, hostPort, new byte[0]);
            assertThat(host.read(ByteBuffer.allocate(1))).as("EOF after the guest's RST").isEqualTo(-1);
            g.drv.syncIo();
            assertThat(g.dev.connectionCount()).isZero();
            g.assertHealthy();
        }
    }

    @Test
    @org.junit.jupiter.api.Timeout(30)
    void aGuestRefusalClosesTheHostClient() throws Exception {
        try (VsockGuest g = new VsockGuest(dir); SocketChannel host = connect(dir.resolve("v.sock"))) {
            g.postRx();
            write(host, "CONNECT 77\n");
            VsockGuest.Packet req = g.receive();
            assertThat(req.h().op()).isEqualTo(OP_REQUEST);
            g.send(OP_RST, 77, req.h().srcPort(), new byte[0]); // nothing listens on guest port 77
            assertThat(host.read(ByteBuffer.allocate(16))).as("closed without OK").isEqualTo(-1);
        }
    }

    @Test
    @org.junit.jupiter.api.Timeout(30)
    void aRequestTheGuestNeverAnswersTimesOut() throws Exception {
        try (VsockGuest g = new VsockGuest(dir, 200_000_000L); SocketChannel host = connect(dir.resolve("v.sock"))) {
            g.postRx();
            write(host, "CONNECT 88\n");
            VsockGuest.Packet req = g.receive();
            assertThat(req.h().op()).isEqualTo(OP_REQUEST);
            // The guest stays silent: after the timeout the host client is closed and the guest told RST.
            assertThat(host.read(ByteBuffer.allocate(16))).as("closed without OK").isEqualTo(-1);
            VsockGuest.Packet rst = g.receive();
            assertThat(rst.h().op()).isEqualTo(OP_RST);
            assertThat(rst.h().srcPort()).isEqualTo(req.h().srcPort());
            g.drv.syncIo();
            assertThat(g.dev.connectionCount()).isZero();
        }
    }

    @Test
    @org.junit.jupiter.api.Timeout(30)
    void aBadConnectLineClosesTheHostClient() throws Exception {
        try (VsockGuest g = new VsockGuest(dir); SocketChannel host = connect(dir.resolve("v.sock"))) {
            g.postRx();
            write(host, "CONNECT 99999999999\n");
            assertThat(host.read(ByteBuffer.allocate(16))).isEqualTo(-1);
            g.drv.syncIo();
            assertThat(g.poll()).as("no REQUEST reached the guest").isNull();
        }
    }

    @Test
    @org.junit.jupiter.api.Timeout(30)
    void aGuestConnectionReachesTheListenerOnUdsUnderscorePort() throws Exception {
        try (VsockGuest g = new VsockGuest(dir);
                ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            listener.bind(UnixDomainSocketAddress.of(dir.resolve("v.sock_5000")));
            g.postRx();
            g.send(OP_REQUEST, 40000, 5000, new byte[0]);
            VsockGuest.Packet resp = g.receive();
            assertThat(resp.h().op()).isEqualTo(OP_RESPONSE);
            assertThat(resp.h().srcPort()).isEqualTo(5000);
            assertThat(resp.h().dstPort()).isEqualTo(40000);
            try (SocketChannel host = listener.accept()) {
                g.send(OP_RW, 40000, 5000, "hello host".getBytes(StandardCharsets.US_ASCII));
                assertThat(read(host, 10)).isEqualTo("hello host");
                write(host, "hello guest");
                VsockGuest.Packet rw = g.receive();
                assertThat(rw.h().op()).isEqualTo(OP_RW);
                assertThat(new String(rw.payload(), StandardCharsets.US_ASCII)).isEqualTo("hello guest");

                // The guest's close(): SHUTDOWN both ways; the host sees EOF, the guest its RST.
                g.send(OP_SHUTDOWN, 40000, 5000, new byte[0]);
                g.send(g.hdr(OP_SHUTDOWN, 40000, 5000, 0, SHUTDOWN_RCV | SHUTDOWN_SEND), new byte[0]);
                VsockGuest.Packet rst = g.receive();
                assertThat(rst.h().op()).isEqualTo(OP_RST);
                assertThat(host.read(ByteBuffer.allocate(1))).isEqualTo(-1);
            }
            g.assertHealthy();
        }
    }

    @Test
    @org.junit.jupiter.api.Timeout(30)
    void hostEndOfFileBecomesShutdownSend() throws Exception {
        try (VsockGuest g = new VsockGuest(dir);
                ServerSocketChannel listener = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            listener.bind(UnixDomainSocketAddress.of(dir.resolve("v.sock_6000")));
            g.postRx();
            g.send(OP_REQUEST, 40001, 6000, new byte[0]);
            assertThat(g.receive().h().op()).isEqualTo(OP_RESPONSE);
            try (SocketChannel host = listener.accept()) {
                write(host, "bye");
                host.shutdownOutput();
                VsockGuest.Packet rw = g.receive();
                assertThat(new String(rw.payload(), StandardCharsets.US_ASCII)).isEqualTo("bye");
                VsockGuest.Packet sd = g.receive();
                assertThat(sd.h().op()).isEqualTo(OP_SHUTDOWN);
                assertThat(sd.h().flags()).isEqualTo(SHUTDOWN_SEND);
                // The guest may still send after the host's half-close.
                g.send(OP_RW, 40001, 6000, "late".getBytes(StandardCharsets.US_ASCII));
                assertThat(read(host, 4)).isEqualTo("late");
            }
        }
    }

    @Test
    @org.junit.jupiter.api.Timeout(30)
    void aGuestConnectionWhereNothingListensIsReset() throws Exception {
        try (VsockGuest g = new VsockGuest(dir)) {
            g.postRx();
            g.send(OP_REQUEST, 40002, 7000, new byte[0]);
            VsockGuest.Packet rst = g.receive();
            assertThat(rst.h().op()).isEqualTo(OP_RST);
            assertThat(rst.h().srcPort()).isEqualTo(7000);
            assertThat(rst.h().dstPort()).isEqualTo(40002);
            assertThat(rst.h().dstCid()).isEqualTo(VsockGuest.CID);
            g.drv.syncIo();
            assertThat(g.dev.connectionCount()).isZero();
        }
    }
}
