package io.jkvm.mmds;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import static io.jkvm.mmds.GuestTcp.*;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * The segments a Linux guest's TCP produces for busybox {@code wget}, replayed frame by frame:
 * a SYN with Linux's options (MSS, SACK permitted, timestamps, window scale 7; 40-byte header,
 * window 64240), the request exactly as busybox's wget writes it, separate ACKs of the data and
 * of our FIN, and the client's FIN after ours (wget reads to EOF, then closes), before ours (a
 * half-close), or crossing it. Each time the whole response must arrive, in order, with valid
 * checksums, and the connection must be gone at the end.
 */
class MmdsLinuxClientTest {
    /** busybox 1.35 wget's request (networking/wget.c: GET, Host, User-Agent: Wget, Connection: close). */
    private static final String WGET_GET = "GET /latest/meta-data/ami-id HTTP/1.1\r\nHost: 169.254.169.254\r\n"
            + "User-Agent: Wget\r\nConnection: close\r\n\r\n";
    private static final int LINUX_SYN_WINDOW = 64240;

    private MmdsStore store;
    private MmdsStack stack;

    @BeforeEach
    void setUp() throws Exception {
        store = new MmdsStore(65536);
        store.put(new ObjectMapper().readTree("""
                {"latest": {"meta-data": {"ami-id": "ami-12345678", "reservation-id": "r-fea54097"}}}"""));
        stack = new MmdsStack(LinkLocal.DEFAULT, store);
    }

    /** A Linux client: frames with options where Linux puts them, and the stack's frames parsed. */
    private final class Linux {
        final int port;
        int seq = 0x7a3c0000;
        int ack;
        int serverIss;
        int tsval = 100000;
        final ByteArrayOutputStream received = new ByteArrayOutputStream();
        final List<GuestTcp.Parsed> frames = new ArrayList<>();
        boolean serverFin;
        int serverFinSeq;

        Linux(int port) {
            this.port = port;
        }

        /** MSS 1460, SACK_PERM, TS(val, 0), NOP, WS 7: tcp_options_write's order for a SYN. */
        byte[] synOptions() {
            byte[] o = new byte[20];
            o[0] = 2;
            o[1] = 4;
            Packets.put16(o, 2, 1460);
            o[4] = 4;
            o[5] = 2;
            o[6] = 8;
            o[7] = 10;
            Packets.put32(o, 8, tsval);
            Packets.put32(o, 12, 0);
            o[16] = 1;
            o[17] = 3;
            o[18] = 3;
            o[19] = 7;
            return o;
        }

        void send(int flags, byte[] options, byte[] data, int window) {
            int len = 14 + 20 + 20 + options.length + data.length;
            byte[] f = new byte[len];
            System.arraycopy(MmdsStack.MAC, 0, f, 0, 6);
            System.arraycopy(GUEST_MAC, 0, f, 6, 6);
            Packets.put16(f, 12, 0x0800);
            f[14] = 0x45;
            Packets.put16(f, 16, 40 + options.length + data.length);
            Packets.put16(f, 18, 0x1d2e);
            Packets.put16(f, 20, 0x4000);
            f[22] = 64;
            f[23] = 6;
            Packets.put32(f, 26, GUEST_IP);
            Packets.put32(f, 30, stack.address());
            Packets.put16(f, 24, Packets.fold(Packets.sum(f, 14, 20, 0)));
            int t = 34;
            Packets.put16(f, t, port);
            Packets.put16(f, t + 2, 80);
            Packets.put32(f, t + 4, seq);
            Packets.put32(f, t + 8, (flags & ACK) != 0 ? ack : 0);
            f[t + 12] = (byte) ((20 + options.length) / 4 << 4);
            f[t + 13] = (byte) flags;
            Packets.put16(f, t + 14, window);
            Packets.put16(f, t + 16, 0xbeef); // checksum offload: partial, the stack ignores it
            System.arraycopy(options, 0, f, t + 20, options.length);
            System.arraycopy(data, 0, f, t + 20 + options.length, data.length);
            assertThat(stack.isForMmds(f, f.length)).isTrue();
            stack.receive(f, f.length);
            seq += data.length + ((flags & (SYN | FIN)) != 0 ? 1 : 0);
        }

        /** A segment after the handshake: no options (none were agreed), the window unscaled. */
        void send(int flags, String data) {
            send(flags, new byte[0], data.getBytes(StandardCharsets.US_ASCII), 64240);
        }

        List<GuestTcp.Parsed> drain() {
            List<GuestTcp.Parsed> got = new ArrayList<>();
            byte[] out = new byte[MmdsStack.MAX_FRAME];
            for (int i = 0; i < 100; i++) {
                int n = stack.poll(out);
                if (n == 0) {
                    break;
                }
                GuestTcp.Parsed p = GuestTcp.parse(out, n);
                assertThat(p.checksumsOk()).as("checksums").isTrue();
                assertThat(p.dstPort()).isEqualTo(port);
                assertThat(p.flags() & RST).as("no reset").isZero();
                got.add(p);
                frames.add(p);
                if ((p.flags() & SYN) != 0) {
                    serverIss = p.seq();
                    ack = p.seq() + 1;
                    continue;
                }
                assertThat(p.seq()).as("in order, nothing resent").isEqualTo(ack);
                received.write(p.data(), 0, p.data().length);
                ack += p.data().length;
                if ((p.flags() & FIN) != 0) {
                    serverFin = true;
                    serverFinSeq = ack;
                    ack += 1;
                }
            }
            return got;
        }

        void handshake() {
            send(SYN, synOptions(), new byte[0], LINUX_SYN_WINDOW);
            GuestTcp.Parsed synAck = drain().getFirst();
            assertThat(synAck.flags()).isEqualTo(SYN | ACK);
            assertThat(synAck.ack()).isEqualTo(seq);
            // Only the MSS: no window scale, SACK or timestamps, so the guest's windows are unscaled.
            assertThat(synAck.mssOption()).isEqualTo(TcpConnection.MSS);
            send(ACK, "");
            assertThat(drain()).as("nothing to say to the handshake's ACK").isEmpty();
        }

        String text() {
            return received.toString(StandardCharsets.UTF_8);
        }
    }

    private static void assertWholeResponse(String text) {
        assertThat(text).startsWith("HTTP/1.1 200 OK\r\n").contains("\r\nConnection: close\r\n")
                .contains("\r\nContent-Length: 12\r\n").endsWith("\r\n\r\nami-12345678");
    }

    @Test
    void wgetClosesAfterOurFinAndEachOfItsAcksComesAlone() {
        Linux c = new Linux(45678);
        c.handshake();
        c.send(ACK | PSH, WGET_GET);
        List<GuestTcp.Parsed> answer = c.drain();
        assertThat(answer).as("the response, then our FIN").hasSizeGreaterThanOrEqualTo(2);
        assertThat(answer.getFirst().ack()).as("the request acknowledged").isEqualTo(c.seq);
        assertThat(c.serverFin).isTrue();
        assertWholeResponse(c.text());
        // Linux acknowledges the data, then the FIN (wget is still reading): nothing comes back.
        int finSeq = c.serverFinSeq;
        c.ack = finSeq;
        c.send(ACK, "");
        assertThat(c.drain()).isEmpty();
        c.ack = finSeq + 1;
        c.send(ACK, "");
        assertThat(c.drain()).isEmpty();
        assertThat(stack.connectionCount()).as("open until the guest's FIN").isEqualTo(1);
        // wget has read to EOF and closes: its FIN is acknowledged and the connection is gone.
        c.send(FIN | ACK, "");
        List<GuestTcp.Parsed> last = c.drain();
        assertThat(last).singleElement().satisfies(p -> {
            assertThat(p.flags()).isEqualTo(ACK);
            assertThat(p.ack()).isEqualTo(c.seq);
        });
        assertThat(stack.connectionCount()).isZero();
        assertThat(stack.dropped()).isZero();
    }

    @Test
    void oneAckForDataAndFinThenTheGuestsFin() {
        Linux c = new Linux(45679);
        c.handshake();
        c.send(ACK | PSH, WGET_GET);
        c.drain();
        assertWholeResponse(c.text());
        c.send(ACK, "");
        c.send(FIN | ACK, "");
        assertThat(c.drain()).singleElement().satisfies(p -> assertThat(p.ack()).isEqualTo(c.seq));
        assertThat(stack.connectionCount()).isZero();
    }

    @Test
    void theGuestsFinCrossingOursIsAcknowledgedAndTheConnectionEnds() {
        Linux c = new Linux(45680);
        c.handshake();
        c.send(ACK | PSH, WGET_GET);
        c.drain();
        assertWholeResponse(c.text());
        // The guest's FIN left before our FIN arrived: it acknowledges the data only.
        int finSeq = c.serverFinSeq;
        c.ack = finSeq;
        c.send(FIN | ACK, "");
        c.ack = finSeq + 1; // then ours arrives
        assertThat(c.drain()).singleElement().satisfies(p -> {
            assertThat(p.flags()).as("an ACK, our FIN not sent twice").isEqualTo(ACK);
            assertThat(p.seq()).isEqualTo(finSeq + 1);
            assertThat(p.ack()).isEqualTo(c.seq);
        });
        assertThat(stack.connectionCount()).as("our FIN not yet acknowledged").isEqualTo(1);
        c.send(ACK, "");
        assertThat(c.drain()).isEmpty();
        assertThat(stack.connectionCount()).isZero();
    }

    @Test
    void aHalfCloseRightAfterTheRequestStillGetsTheWholeResponse() {
        Linux c = new Linux(45681);
        c.handshake();
        c.send(ACK | PSH, WGET_GET);
        c.send(FIN | ACK, ""); // shutdown(SHUT_WR) before the MMDS answered
        c.drain();
        assertWholeResponse(c.text());
        assertThat(c.serverFin).isTrue();
        assertThat(c.frames.getLast().ack()).as("the guest's FIN acknowledged").isEqualTo(c.seq);
        c.send(ACK, "");
        assertThat(c.drain()).isEmpty();
        assertThat(stack.connectionCount()).isZero();
    }

    @Test
    void theRequestWithFinInOneSegment() {
        Linux c = new Linux(45682);
        c.handshake();
        c.send(ACK | PSH | FIN, WGET_GET);
        c.drain();
        assertWholeResponse(c.text());
        assertThat(c.frames.getLast().ack()).isEqualTo(c.seq);
        c.send(ACK, "");
        c.drain();
        assertThat(stack.connectionCount()).isZero();
    }

    @Test
    void v2AnswersWget401AndCloses() {
        store.configure(MmdsVersion.V2, false);
        Linux c = new Linux(45683);
        c.handshake();
        c.send(ACK | PSH, WGET_GET);
        c.drain();
        assertThat(c.text()).startsWith("HTTP/1.1 401 Unauthorized\r\n").contains("\r\nContent-Length: ");
        assertThat(c.serverFin).isTrue();
        c.send(ACK, "");
        c.send(FIN | ACK, "");
        c.drain();
        assertThat(stack.connectionCount()).isZero();
    }
}
