package io.jkvm.mmds;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;

import static io.jkvm.mmds.GuestTcp.*;
import static org.assertj.core.api.Assertions.assertThat;

/** The MMDS network stack with real frames: ARP, the TCP handshake, requests, FIN, RST and the bounds. */
class MmdsStackTest {
    private MmdsStore store;
    private MmdsStack stack;

    @BeforeEach
    void setUp() throws Exception {
        store = new MmdsStore(65536);
        store.put(new ObjectMapper().readTree("""
                {"latest": {"meta-data": {"ami-id": "ami-87654321", "reservation-id": "r-79054aef",
                 "network": {"x": "y"}, "n": 7}}}"""));
        stack = new MmdsStack(LinkLocal.DEFAULT, store);
    }

    @Test
    void anArpRequestForTheAddressIsAnsweredWithTheMmdsMac() {
        byte[] other = arpRequest(0xA9FE0002);
        assertThat(stack.isForMmds(other, other.length)).isFalse();
        byte[] req = arpRequest(LinkLocal.DEFAULT);
        assertThat(stack.isForMmds(req, req.length)).isTrue();
        stack.receive(req, req.length);
        byte[] out = new byte[MmdsStack.MAX_FRAME];
        int n = stack.poll(out);
        assertThat(n).isEqualTo(42);
        assertThat(java.util.Arrays.copyOfRange(out, 0, 6)).isEqualTo(GUEST_MAC);
        assertThat(java.util.Arrays.copyOfRange(out, 6, 12)).isEqualTo(MmdsStack.MAC);
        assertThat(Packets.u16(out, 12)).isEqualTo(0x0806);
        assertThat(Packets.u16(out, 20)).as("reply").isEqualTo(2);
        assertThat(java.util.Arrays.copyOfRange(out, 22, 28)).isEqualTo(MmdsStack.MAC);
        assertThat(Packets.i32(out, 28)).isEqualTo(LinkLocal.DEFAULT);
        assertThat(java.util.Arrays.copyOfRange(out, 32, 38)).isEqualTo(GUEST_MAC);
        assertThat(Packets.i32(out, 38)).isEqualTo(GUEST_IP);
        assertThat(stack.poll(out)).as("one reply per request").isZero();
    }

    @Test
    void framesForOtherAddressesAreNotTaken() {
        byte[] f = GuestTcp.tcp(1234, 80, 1, 0, SYN, 1000, new byte[0], 0x0A000001);
        assertThat(stack.isForMmds(f, f.length)).isFalse();
        assertThat(stack.isForMmds(f, 20)).isFalse();
    }

    @Test
    void aSynIsAnsweredWithASynAckCarryingTheMss() {
        GuestTcp g = new GuestTcp(stack, 40000);
        g.send(SYN, new byte[0]);
        List<GuestTcp.Parsed> out = g.drain();
        assertThat(out).hasSize(1);
        GuestTcp.Parsed p = out.getFirst();
        assertThat(p.flags()).isEqualTo(SYN | ACK);
        assertThat(p.ack()).isEqualTo(1001);
        assertThat(p.srcPort()).isEqualTo(80);
        assertThat(p.dstPort()).isEqualTo(40000);
        assertThat(p.mssOption()).isEqualTo(TcpConnection.MSS);
        assertThat(p.window()).isEqualTo(TcpConnection.REQUEST_BUFFER);
        assertThat(p.checksumsOk()).isTrue();
        assertThat(p.dstMac()).isEqualTo(GUEST_MAC);
        // The SYN again (our SYN-ACK lost): the same SYN-ACK again, still one connection.
        g.send(SYN, 1000, new byte[0]);
        assertThat(g.drain()).singleElement().satisfies(q -> assertThat(q.seq()).isEqualTo(p.seq()));
        assertThat(stack.connectionCount()).isEqualTo(1);
    }

    @Test
    void aGetAcrossTwoSegmentsIsAnsweredInImdsFormatAndTheFinIsAcknowledged() {
        GuestTcp g = new GuestTcp(stack, 40001);
        g.connect();
        g.send(ACK | PSH, "GET /latest/meta-data HTTP/1.1\r\nHo".getBytes(StandardCharsets.US_ASCII));
        assertThat(g.drain()).allSatisfy(p -> assertThat(p.data()).isEmpty());
        String answer = g.exchange("st: 169.254.169.254\r\n\r\n");
        assertThat(answer).startsWith("HTTP/1.1 200 OK\r\n").contains("Content-Type: text/plain")
                .endsWith("\r\n\r\nami-id\nn\nnetwork/\nreservation-id");
        assertThat(g.frames).allSatisfy(p -> assertThat(p.checksumsOk()).isTrue());
        // The guest closes: its FIN is acknowledged, ours follows; its last ACK ends the connection.
        g.send(FIN | ACK, new byte[0]);
        g.drain();
        assertThat(g.finSeen).isTrue();
        assertThat(g.frames.getLast().ack()).isEqualTo(g.seq);
        g.send(ACK, new byte[0]);
        g.drain();
        assertThat(stack.connectionCount()).isZero();
    }

    @Test
    void connectionCloseMeansOurFinAfterTheResponse() {
        GuestTcp g = new GuestTcp(stack, 40002);
        g.connect();
        String a = g.exchange("GET /latest/meta-data/ami-id HTTP/1.1\r\nConnection: close\r\n\r\n");
        assertThat(a).startsWith("HTTP/1.1 200").contains("Connection: close").endsWith("\r\n\r\nami-87654321");
        assertThat(g.finSeen).isTrue();
        g.send(FIN | ACK, new byte[0]);
        g.drain();
        assertThat(stack.connectionCount()).isZero();
    }

    /**
     * busybox nc sends its FIN as soon as its stdin ends, right behind the request, and keeps
     * reading (the lab guests' {@code printf ... | nc}): the request is still answered, then our FIN.
     */
    @Test
    void aRequestFollowedAtOnceByTheGuestsFinIsStillAnswered() {
        GuestTcp g = new GuestTcp(stack, 40009);
        g.connect();
        g.send(ACK | PSH | FIN, "GET /latest/meta-data/ami-id HTTP/1.1\r\nConnection: close\r\n\r\n"
                .getBytes(StandardCharsets.US_ASCII));
        for (int i = 0; i < 100 && !g.drain().isEmpty(); i++) {
            g.send(ACK, new byte[0]);
        }
        assertThat(g.text()).startsWith("HTTP/1.1 200").endsWith("\r\n\r\nami-87654321");
        assertThat(g.finSeen).isTrue();
        assertThat(stack.connectionCount()).isZero();
    }

    @Test
    void jsonOnRequestUnlessImdsCompat() {
        GuestTcp g = new GuestTcp(stack, 40003);
        g.connect();
        assertThat(g.exchange("GET /latest/meta-data/network HTTP/1.1\r\nAccept: application/json\r\n\r\n"))
                .contains("Content-Type: application/json").endsWith("{\"x\":\"y\"}");
        assertThat(g.exchange("GET /latest/meta-data/n HTTP/1.1\r\nAccept: application/json\r\n\r\n")).endsWith("\r\n7");
        assertThat(g.exchange("GET /latest/meta-data/n HTTP/1.1\r\n\r\n")).startsWith("HTTP/1.1 501");
        assertThat(g.exchange("GET /latest/nothing HTTP/1.1\r\n\r\n")).startsWith("HTTP/1.1 404");
        assertThat(g.exchange("POST /latest HTTP/1.1\r\nContent-Length: 2\r\n\r\nab")).startsWith("HTTP/1.1 405")
                .contains("Allow: GET, PUT");
        store.configure(MmdsVersion.V1, true);
        assertThat(g.exchange("GET /latest/meta-data/network HTTP/1.1\r\nAccept: application/json\r\n\r\n"))
                .contains("Content-Type: text/plain").endsWith("\r\n\r\nx");
    }

    @Test
    void v2NeedsATokenAndV1TakesOneWithoutNeedingIt() {
        store.configure(MmdsVersion.V2, false);
        GuestTcp g = new GuestTcp(stack, 40004);
        g.connect();
        assertThat(g.exchange("GET /latest/meta-data/ami-id HTTP/1.1\r\n\r\n")).startsWith("HTTP/1.1 401");
        assertThat(g.exchange("GET /latest/meta-data/ami-id HTTP/1.1\r\nX-metadata-token: bogus\r\n\r\n"))
                .startsWith("HTTP/1.1 401");
        assertThat(g.exchange("PUT /latest/api/token HTTP/1.1\r\n\r\n")).startsWith("HTTP/1.1 400");
        assertThat(g.exchange("PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 0\r\n\r\n"))
                .startsWith("HTTP/1.1 400");
        assertThat(g.exchange("PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 60\r\n"
                + "X-Forwarded-For: 1.2.3.4\r\n\r\n")).startsWith("HTTP/1.1 400");
        String t = g.exchange("PUT /latest/api/token HTTP/1.1\r\nX-metadata-token-ttl-seconds: 60\r\n\r\n");
        assertThat(t).startsWith("HTTP/1.1 200").contains("x-metadata-token-ttl-seconds: 60");
        String token = t.substring(t.indexOf("\r\n\r\n") + 4);
        assertThat(g.exchange("GET /latest/meta-data/ami-id HTTP/1.1\r\nX-metadata-token: " + token + "\r\n\r\n"))
                .endsWith("\r\n\r\nami-87654321");
        store.configure(MmdsVersion.V1, false);
        assertThat(g.exchange("GET /latest/meta-data/ami-id HTTP/1.1\r\nX-metadata-token: bogus\r\n\r\n"))
                .startsWith("HTTP/1.1 200");
        assertThat(g.exchange("PUT /latest/api/token HTTP/1.1\r\nX-aws-ec2-metadata-token-ttl-seconds: 5\r\n\r\n"))
                .startsWith("HTTP/1.1 200");
    }

    @Test
    void aRetransmittedRequestIsAnsweredOnce() {
        GuestTcp g = new GuestTcp(stack, 40005);
        g.connect();
        byte[] req = "GET /latest/meta-data/ami-id HTTP/1.1\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
        int at = g.seq;
        g.send(ACK | PSH, req);
        g.send(ACK | PSH, at, req); // the same segment again: acknowledged, not answered again
        g.drain();
        g.send(ACK, new byte[0]);
        g.drain();
        assertThat(g.text().split("HTTP/1.1 200", -1)).hasSize(2);
    }

    @Test
    void segmentsForAnotherPortOrNoConnectionAreReset() {
        byte[] f = GuestTcp.tcp(5555, 8080, 77, 0, SYN, 1000, new byte[0], LinkLocal.DEFAULT);
        stack.receive(f, f.length);
        byte[] out = new byte[MmdsStack.MAX_FRAME];
        GuestTcp.Parsed p = GuestTcp.parse(out, stack.poll(out));
        assertThat(p.flags()).isEqualTo(RST | ACK);
        assertThat(p.ack()).isEqualTo(78);
        assertThat(p.srcPort()).isEqualTo(8080);
        assertThat(p.checksumsOk()).isTrue();
        f = GuestTcp.tcp(5556, 80, 5, 4242, ACK, 1000, "x".getBytes(), LinkLocal.DEFAULT);
        stack.receive(f, f.length);
        p = GuestTcp.parse(out, stack.poll(out));
        assertThat(p.flags()).isEqualTo(RST);
        assertThat(p.seq()).isEqualTo(4242);
        f = GuestTcp.tcp(5557, 80, 5, 4242, RST, 1000, new byte[0], LinkLocal.DEFAULT);
        stack.receive(f, f.length);
        assertThat(stack.poll(out)).as("a reset is never answered").isZero();
    }

    @Test
    void aDeviceResetForgetsEveryConnection() {
        GuestTcp g = new GuestTcp(stack, 40010);
        g.connect();
        stack.receive(arpRequest(LinkLocal.DEFAULT), 42);
        stack.reset();
        assertThat(stack.connectionCount()).isZero();
        assertThat(stack.poll(new byte[MmdsStack.MAX_FRAME])).isZero();
    }

    @Test
    void aResetFromTheGuestEndsItsConnection() {
        GuestTcp g = new GuestTcp(stack, 40006);
        g.connect();
        assertThat(stack.connectionCount()).isEqualTo(1);
        g.send(RST, new byte[0]);
        assertThat(stack.connectionCount()).isZero();
    }

    @Test
    void aRequestLargerThanTheBufferResetsTheConnection() {
        GuestTcp g = new GuestTcp(stack, 40007);
        g.connect();
        String big = "GET / HTTP/1.1\r\nX-Pad: " + "a".repeat(TcpConnection.REQUEST_BUFFER) + "\r\n\r\n";
        byte[] b = big.getBytes(StandardCharsets.US_ASCII);
        for (int off = 0; off < b.length; off += 1000) {
            g.send(ACK, java.util.Arrays.copyOfRange(b, off, Math.min(b.length, off + 1000)));
        }
        assertThat(g.drain()).anySatisfy(p -> assertThat(p.flags() & RST).isNotZero());
        assertThat(stack.connectionCount()).isZero();
    }

    @Test
    void aMalformedRequestIsA400AndTheConnectionCloses() {
        GuestTcp g = new GuestTcp(stack, 40008);
        g.connect();
        assertThat(g.exchange("NONSENSE\r\n\r\n")).startsWith("HTTP/1.1 400");
        assertThat(g.finSeen).isTrue();
    }

    @Test
    void fragmentsAndOtherProtocolsAreDroppedNotPassedOn() {
        byte[] f = GuestTcp.tcp(5555, 80, 1, 0, SYN, 1000, new byte[0], LinkLocal.DEFAULT);
        Packets.put16(f, 20, 0x2000); // more fragments
        Packets.put16(f, 24, 0);
        Packets.put16(f, 24, Packets.fold(Packets.sum(f, 14, 20, 0)));
        assertThat(stack.isForMmds(f, f.length)).isTrue();
        stack.receive(f, f.length);
        f[23] = 17; // UDP
        stack.receive(f, f.length);
        byte[] out = new byte[MmdsStack.MAX_FRAME];
        assertThat(stack.poll(out)).isZero();
        assertThat(stack.dropped()).isEqualTo(2);
    }

    @Test
    void aTsoFrameOfAWholeWindowIsTakenAndALargerOneDropped() {
        GuestTcp g = new GuestTcp(stack, 40011);
        g.connect();
        String req = "GET /latest/meta-data/ami-id HTTP/1.1\r\nX-Pad: " + "p".repeat(3000) + "\r\n\r\n";
        assertThat(g.exchange(req)).endsWith("ami-87654321");
        byte[] huge = GuestTcp.tcp(40012, 80, 1, 0, SYN, 1000, new byte[MmdsStack.MAX_INPUT_FRAME], LinkLocal.DEFAULT);
        long before = stack.dropped();
        stack.receive(huge, huge.length);
        assertThat(stack.dropped()).isEqualTo(before + 1);
    }

    @Test
    void atMostThirtyConnections() {
        for (int i = 0; i < MmdsStack.MAX_CONNECTIONS; i++) {
            GuestTcp g = new GuestTcp(stack, 30000 + i);
            g.connect();
            g.drain();
        }
        assertThat(stack.connectionCount()).isEqualTo(MmdsStack.MAX_CONNECTIONS);
        GuestTcp late = new GuestTcp(stack, 39999);
        late.send(SYN, new byte[0]);
        assertThat(late.drain()).singleElement().satisfies(p -> assertThat(p.flags() & RST).isNotZero());
        assertThat(stack.connectionCount()).isEqualTo(MmdsStack.MAX_CONNECTIONS);
    }

    @Test
    void aLargeResponseIsSegmentedWithinTheGuestsWindow() throws Exception {
        store.put(new ObjectMapper().readTree("{\"big\": \"" + "z".repeat(5000) + "\"}"));
        GuestTcp g = new GuestTcp(stack, 40009);
        g.connect();
        String a = g.exchange("GET /big HTTP/1.1\r\n\r\n");
        assertThat(a).endsWith("z".repeat(5000));
        assertThat(g.frames).allSatisfy(p -> assertThat(p.data().length).isLessThanOrEqualTo(TcpConnection.MSS));
    }
}
