package io.jkvm.display.vnc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jkvm.display.DisplayMode;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(60)
class VncServerTest {
    @TempDir
    Path dir;

    private final List<AutoCloseable> open = new ArrayList<>();
    private final MemoryFramebuffer fb = new MemoryFramebuffer(4, 2);
    private final RecordingInput input = new RecordingInput();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : open.reversed()) {
            c.close();
        }
    }

    private <T extends AutoCloseable> T keep(T c) {
        open.add(c);
        return c;
    }

    private VncServer unix() throws Exception {
        return keep(VncServer.unix(dir.resolve("vnc.sock"), fb, input));
    }

    private VncServer unix(VncServer.Options options) throws Exception {
        return keep(VncServer.unix(dir.resolve("vnc.sock"), fb, input, options));
    }

    private RfbTestClient client(VncServer server) throws Exception {
        return keep(RfbTestClient.connect(server.address()));
    }

    private static VncServer.Options options(int maxClients, Duration handshake, Duration stall) {
        return new VncServer.Options("test", maxClients, handshake, stall, 1 << 20);
    }

    @Test
    void unixSocketIsOwnerOnlyAndSpeaks38WithSecurityNone() throws Exception {
        VncServer server = unix();
        Path sock = dir.resolve("vnc.sock");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(sock))).isEqualTo("rw-------");
        RfbTestClient c = client(server).handshakeNone();
        assertThat(c.width).isEqualTo(4);
        assertThat(c.height).isEqualTo(2);
        assertThat(c.name).isEqualTo("jkvm");
    }

    @Test
    void rfb37HasNoSecurityResultForNone() throws Exception {
        RfbTestClient c = client(unix());
        c.version("RFB 003.007\n");
        assertThat(c.read(2)).containsExactly(1, 1);
        c.send(new byte[] {1});
        c.init(); // ServerInit follows at once
        assertThat(c.width).isEqualTo(4);
    }

    @Test
    void rfb33GetsTheSecurityTypeDecidedByTheServer() throws Exception {
        RfbTestClient c = client(unix());
        c.version("RFB 003.003\n");
        assertThat(c.in.readInt()).isEqualTo(1);
        c.init();
        assertThat(c.height).isEqualTo(2);
    }

    @Test
    void garbageVersionIsRefusedWithAReason() throws Exception {
        RfbTestClient c = client(unix());
        c.version("HELLO WORLD\n");
        assertThat(c.in.readInt()).isZero();
        assertThat(c.readString()).contains("unsupported RFB protocol version");
        assertThat(c.closedByServer()).isTrue();
    }

    @Test
    void tcpNeedsAPassword() {
        assertThatThrownBy(() -> VncServer.tcp("127.0.0.1", 0, "", fb, input))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("needs a password");
        assertThatThrownBy(() -> VncServer.tcp("127.0.0.1", 0, null, fb, input))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void tcpAuthenticatesWithTheRightPassword() throws Exception {
        VncServer server = keep(VncServer.tcp("127.0.0.1", 0, "s3cret", fb, input));
        RfbTestClient c = client(server).handshakeAuth("s3cret");
        assertThat(c.width).isEqualTo(4);
    }

    @Test
    void connectionsThatNeverAnswerCannotTakeEverySlotFromOnePeer() throws Exception {
        VncServer server = keep(VncServer.tcp("127.0.0.1", 0, "s3cret", fb, input,
                options(3, Duration.ofSeconds(30), Duration.ofSeconds(30))));
        for (int i = 0; i < VncServer.MAX_HANDSHAKING_PER_PEER; i++) {
            RfbTestClient silent = client(server);
            assertThat(new String(silent.read(12), java.nio.charset.StandardCharsets.US_ASCII)).isEqualTo("RFB 003.008\n");
        }
        RfbTestClient more = client(server);
        assertThat(more.closedByServer()).as("a third handshake from the same address").isTrue();
        RfbTestClient other = keep(RfbTestClient.connectFrom(server.address(), java.net.InetAddress.getByName("127.0.0.2")));
        assertThat(other.handshakeAuth("s3cret").width).as("a viewer elsewhere still gets in").isEqualTo(4);
    }

    @Test
    void tcpRefusesAWrongPasswordWithAReason() throws Exception {
        VncServer server = keep(VncServer.tcp("127.0.0.1", 0, "s3cret", fb, input));
        RfbTestClient c = client(server);
        c.version("RFB 003.008\n");
        assertThat(c.read(2)).containsExactly(1, 2);
        c.send(new byte[] {2});
        c.send(VncAuth.response(VncAuth.key("guess"), c.read(16)));
        assertThat(c.in.readInt()).isEqualTo(1);
        assertThat(c.readString()).isEqualTo("authentication failed");
        assertThat(c.closedByServer()).isTrue();
    }

    @Test
    void repeatedWrongPasswordsShutTheAddressOutForAWhile() throws Exception {
        VncServer server = keep(VncServer.tcp("127.0.0.1", 0, "s3cret", fb, input));
        for (int i = 0; i < AuthThrottle.FREE_FAILURES; i++) {
            RfbTestClient c = client(server);
            c.version("RFB 003.008\n");
            assertThat(c.read(2)).containsExactly(1, 2);
            c.send(new byte[] {2});
            c.send(VncAuth.response(VncAuth.key("guess" + i), c.read(16)));
            assertThat(c.in.readInt()).isEqualTo(1);
            assertThat(c.readString()).isEqualTo("authentication failed");
        }
        // The server counted those: one more failure blocks the address. Many more (recorded
        // directly, so the test does not race a one-second block) shut it out for the longest
        // time: even the right password is not asked for.
        java.net.InetAddress loopback = java.net.InetAddress.getByName("127.0.0.1");
        long now = System.nanoTime();
        server.throttle().failed(loopback, now);
        assertThat(server.throttle().allowed(loopback, now)).isFalse();
        for (int i = 0; i < 20; i++) {
            server.throttle().failed(loopback, System.nanoTime());
        }
        RfbTestClient c = client(server);
        c.version("RFB 003.008\n");
        assertThat(c.in.readUnsignedByte()).isZero();
        assertThat(c.readString()).contains("too many authentication failures");
    }

    @Test
    void tcpRefusesSecurityNone() throws Exception {
        VncServer server = keep(VncServer.tcp("127.0.0.1", 0, "s3cret", fb, input));
        RfbTestClient c = client(server);
        c.version("RFB 003.008\n");
        assertThat(c.read(2)).containsExactly(1, 2);
        c.send(new byte[] {1});
        assertThat(c.in.readInt()).isEqualTo(1);
        assertThat(c.readString()).contains("not offered");
    }

    @Test
    void rfb33AuthenticatesOverTcp() throws Exception {
        VncServer server = keep(VncServer.tcp("127.0.0.1", 0, "pw", fb, input));
        RfbTestClient c = client(server);
        c.version("RFB 003.003\n");
        assertThat(c.in.readInt()).isEqualTo(2);
        c.send(VncAuth.response(VncAuth.key("pw"), c.read(16)));
        assertThat(c.in.readInt()).isZero();
        c.init();
        assertThat(c.width).isEqualTo(4);
    }

    @Test
    void rawUpdateBytesAreExact() throws Exception {
        fb.fill(0, 0, 4, 2, 0x112233);
        fb.set(3, 1, 0xa0b0c0);
        RfbTestClient c = client(unix()).handshakeNone();
        c.request(false, 0, 0, 4, 2);
        ByteBuffer want = ByteBuffer.allocate(4 + 12 + 8 * 4).put(new byte[] {0, 0, 0, 1})
                .putShort((short) 0).putShort((short) 0).putShort((short) 4).putShort((short) 2).putInt(0);
        for (int i = 0; i < 7; i++) {
            want.put(new byte[] {0x33, 0x22, 0x11, 0});
        }
        want.put(new byte[] {(byte) 0xc0, (byte) 0xb0, (byte) 0xa0, 0});
        assertThat(c.read(want.capacity())).containsExactly(want.array());
    }

    @Test
    void rawUpdateIn16BitBigEndianRgb565() throws Exception {
        fb.fill(0, 0, 4, 2, 0xff0000);
        fb.set(1, 0, 0x00ff00);
        fb.set(2, 0, 0x0000ff);
        fb.set(3, 0, 0xffffff);
        RfbTestClient c = client(unix()).handshakeNone();
        c.setPixelFormat(new PixelFormat(16, 16, true, 31, 63, 31, 11, 5, 0));
        c.request(false, 0, 0, 4, 1);
        assertThat(c.updateHeader()).isEqualTo(1);
        // Whole tiles are sent: the 4x1 request brings the 4x2 screen.
        assertThat(c.rectHeader()).containsExactly(0, 0, 4, 2, 0);
        assertThat(c.read(16)).containsExactly(0xf8, 0x00, 0x07, 0xe0, 0x00, 0x1f, 0xff, 0xff,
                0xf8, 0x00, 0xf8, 0x00, 0xf8, 0x00, 0xf8, 0x00);
    }

    @Test
    void colourMapFormatsAreRefused() throws Exception {
        RfbTestClient c = client(unix()).handshakeNone();
        ByteBuffer b = ByteBuffer.allocate(20).put((byte) 0).put(new byte[3])
                .put(new byte[] {8, 8, 0, 0}).put(new byte[12]);
        c.send(b);
        assertThat(c.closedByServer()).isTrue();
    }

    @Test
    void incrementalUpdatesSendOnlyDamagedTilesAndNothingWhenIdle() throws Exception {
        MemoryFramebuffer big = new MemoryFramebuffer(256, 128);
        VncServer server = keep(VncServer.unix(dir.resolve("big.sock"), big, input));
        RfbTestClient c = client(server).handshakeNone();
        c.setEncodings(Encodings.HEXTILE, Encodings.RAW);
        int[] screen = new int[256 * 128];
        c.request(false, 0, 0, 256, 128);
        c.readUpdate(screen, 256);
        // Nothing changed: an incremental request stays pending. A non-incremental one for a small
        // area then gets the first answer, holding only that area's tile (the union of both requests
        // is answered, and only that tile is dirty): nothing was sent for the idle screen.
        c.request(true, 0, 0, 256, 128);
        c.request(false, 200, 100, 1, 1);
        List<int[]> rects = c.readUpdate(screen, 256);
        assertThat(rects).hasSize(1);
        assertThat(rects.get(0)).containsExactly(192, 64, 64, 64, Encodings.HEXTILE);
        big.fill(10, 70, 3, 3, 0x00ff00);
        c.request(true, 0, 0, 256, 128);
        rects = c.readUpdate(screen, 256);
        assertThat(rects).hasSize(1);
        assertThat(rects.get(0)).containsExactly(0, 64, 64, 64, Encodings.HEXTILE);
        for (int y = 0; y < 128; y++) {
            for (int x = 0; x < 256; x++) {
                assertThat(screen[y * 256 + x]).isEqualTo(big.pixel(x, y));
            }
        }
    }

    @Test
    void hugeRequestsAreClampedToTheMode() throws Exception {
        RfbTestClient c = client(unix()).handshakeNone();
        c.request(false, 0, 0, 65535, 65535);
        assertThat(c.updateHeader()).isEqualTo(1);
        assertThat(c.rectHeader()).containsExactly(0, 0, 4, 2, 0);
        c.read(32);
        c.request(false, 65535, 65535, 65535, 65535); // wholly outside: an empty answer
        assertThat(c.updateHeader()).isZero();
    }

    @Test
    void modeChangeSendsDesktopSizeThenTheNewScreen() throws Exception {
        RfbTestClient c = client(unix()).handshakeNone();
        c.setEncodings(Encodings.RAW, Encodings.DESKTOP_SIZE);
        int[] screen = new int[8];
        c.request(false, 0, 0, 4, 2);
        c.readUpdate(screen, 4);
        c.request(true, 0, 0, 4, 2);
        fb.setMode(new DisplayMode(100, 70));
        assertThat(c.updateHeader()).isEqualTo(1);
        assertThat(c.rectHeader()).containsExactly(0, 0, 100, 70, Encodings.DESKTOP_SIZE);
        c.request(true, 0, 0, 100, 70);
        int[] big = new int[100 * 70];
        List<int[]> rects = c.readUpdate(big, 100);
        assertThat(rects.stream().mapToInt(r -> r[2] * r[3]).sum()).isEqualTo(100 * 70);
        // Pointer events are now scaled against the new size.
        c.pointer(0, 99, 69);
        assertThat(input.next()).isEqualTo("pointer 99,69 in 100x70 buttons 0");
    }

    @Test
    void modeChangeClosesAClientWithoutDesktopSize() throws Exception {
        RfbTestClient c = client(unix()).handshakeNone();
        c.request(false, 0, 0, 4, 2);
        c.readUpdate(new int[8], 4);
        c.request(true, 0, 0, 4, 2);
        fb.setMode(new DisplayMode(8, 8));
        assertThat(c.closedByServer()).isTrue();
    }

    @Test
    void modeOffShowsABlankFallbackScreen() throws Exception {
        fb.setMode(DisplayMode.OFF);
        RfbTestClient c = client(unix()).handshakeNone();
        assertThat(c.width).isEqualTo(640);
        assertThat(c.height).isEqualTo(480);
        c.setEncodings(Encodings.HEXTILE);
        int[] screen = new int[640 * 480];
        java.util.Arrays.fill(screen, -1);
        c.request(false, 0, 0, 640, 480);
        c.readUpdate(screen, 640);
        assertThat(screen).containsOnly(0);
    }

    @Test
    void keysGoToTheInputSinkAsLinuxCodes() throws Exception {
        RfbTestClient c = client(unix()).handshakeNone();
        c.key(true, 0xffe1);  // Shift_L
        c.key(true, '!');
        c.key(false, '!');
        c.key(true, 0x20ac);  // EuroSign: no key on a US keyboard, dropped
        c.key(false, 0xffe1);
        assertThat(input.next()).isEqualTo("key 42 down");
        assertThat(input.next()).isEqualTo("key 2 down");
        assertThat(input.next()).isEqualTo("key 2 up");
        assertThat(input.next()).isEqualTo("key 42 up");
    }

    @Test
    void pointerButtonsAndWheel() throws Exception {
        RfbTestClient c = client(unix()).handshakeNone();
        c.pointer(1, 3, 1);
        c.pointer(0x08, 2, 1);  // wheel up pressed
        c.pointer(0, 2, 1);
        c.pointer(0x10 | 4, 2, 1);  // wheel down pressed with the right button held
        c.pointer(4, 65535, 65535); // out of range: passed on, the sink clamps
        assertThat(input.next()).isEqualTo("pointer 3,1 in 4x2 buttons 1");
        assertThat(input.next()).isEqualTo("pointer 2,1 in 4x2 buttons 0");
        assertThat(input.next()).isEqualTo("wheel 1");
        assertThat(input.next()).isEqualTo("pointer 2,1 in 4x2 buttons 0");
        assertThat(input.next()).isEqualTo("pointer 2,1 in 4x2 buttons 4");
        assertThat(input.next()).isEqualTo("wheel -1");
        assertThat(input.next()).isEqualTo("pointer 65535,65535 in 4x2 buttons 4");
    }

    @Test
    void cutTextIsReadAndDropped() throws Exception {
        RfbTestClient c = client(unix()).handshakeNone();
        c.cutText(5, "hello".getBytes(StandardCharsets.US_ASCII));
        c.key(true, 'a');
        assertThat(input.next()).isEqualTo("key 30 down");
    }

    @Test
    void absurdCutTextLengthCloses() throws Exception {
        RfbTestClient c = client(unix()).handshakeNone();
        c.cutText(0x7fffffff, new byte[0]);
        assertThat(c.closedByServer()).isTrue();
        RfbTestClient d = client(unix2()).handshakeNone();
        d.cutText(-1, new byte[0]);  // 4 GiB - 1 as unsigned
        assertThat(d.closedByServer()).isTrue();
    }

    private VncServer unix2() throws Exception {
        return keep(VncServer.unix(dir.resolve("second.sock"), fb, input));
    }

    @Test
    void theLongestEncodingListIsReadWithoutTrouble() throws Exception {
        RfbTestClient c = client(unix()).handshakeNone();
        int[] encodings = new int[65535];
        java.util.Arrays.fill(encodings, 0x7fff0000); // unknown ones first
        encodings[65534] = Encodings.HEXTILE;
        c.setEncodings(encodings);
        c.request(false, 0, 0, 4, 2);
        assertThat(c.readUpdate(new int[8], 4).get(0)[4]).isEqualTo(Encodings.HEXTILE);
    }

    @Test
    void unknownMessageTypeCloses() throws Exception {
        RfbTestClient c = client(unix()).handshakeNone();
        c.send(new byte[] {(byte) 200});
        assertThat(c.closedByServer()).isTrue();
    }

    @Test
    void handshakeTimesOut() throws Exception {
        RfbTestClient c = client(unix(options(8, Duration.ofMillis(200), Duration.ofSeconds(30))));
        assertThat(c.read(12)).asString(StandardCharsets.US_ASCII).isEqualTo("RFB 003.008\n");
        // says nothing more
        assertThat(c.closedByServer()).isTrue();
    }

    @Test
    void connectionsBeyondTheCapAreRefusedWithAReason() throws Exception {
        VncServer server = unix(options(2, Duration.ofSeconds(10), Duration.ofSeconds(30)));
        client(server).handshakeNone();
        client(server).handshakeNone();
        RfbTestClient third = client(server);
        third.version("RFB 003.008\n");
        assertThat(third.in.readUnsignedByte()).isZero();
        assertThat(third.readString()).contains("too many VNC clients");
        assertThat(third.closedByServer()).isTrue();
        RfbTestClient old = client(server);
        old.version("RFB 003.003\n");
        assertThat(old.in.readInt()).isZero();
        assertThat(old.readString()).contains("too many VNC clients");
    }

    @Test
    void aClientThatNeverReadsBlocksNobodyAndIsDroppedWhenItStalls() throws Exception {
        MemoryFramebuffer big = new MemoryFramebuffer(1024, 1024);
        VncServer server = keep(VncServer.tcp("127.0.0.1", 0, "pw", big, input,
                options(8, Duration.ofSeconds(10), Duration.ofSeconds(2))));
        InetSocketAddress at = (InetSocketAddress) server.address();
        RfbTestClient stuck = keep(RfbTestClient.connectSmallBuffer(at)).handshakeAuth("pw");
        // 4 MiB per full update, never read: its sender fills the socket buffers and stalls.
        for (int i = 0; i < 8; i++) {
            stuck.request(false, 0, 0, 1024, 1024);
        }
        RfbTestClient ok = client(server).handshakeAuth("pw");
        int[] screen = new int[1024 * 1024];
        ok.request(false, 0, 0, 1024, 1024);
        ok.readUpdate(screen, 1024);
        for (int i = 0; i < 3; i++) {
            // The damage callbacks return at once (this thread is the framebuffer's) and the
            // reading client keeps getting its updates.
            big.fill(0, 0, 1024, 1024, 0x010101 * (i + 1));
            ok.request(true, 0, 0, 1024, 1024);
            ok.readUpdate(screen, 1024);
            assertThat(screen[1024 * 1024 - 1]).isEqualTo(0x010101 * (i + 1));
        }
        // The stalled client is disconnected after the write stall timeout (before it reads anything,
        // which would let its sender go on).
        awaitCondition(() -> server.clientCount() == 1);
        assertThat(stuck.closedByServer()).isTrue();
    }

    @Test
    void framebufferIsSubscribedOnlyWhileClientsAreConnected() throws Exception {
        VncServer server = unix();
        assertThat(fb.subscribers()).isZero();
        RfbTestClient c = client(server).handshakeNone();
        c.request(false, 0, 0, 4, 2);
        c.readUpdate(new int[8], 4);
        assertThat(fb.subscribers()).isEqualTo(1);
        RfbTestClient d = client(server).handshakeNone();
        d.request(false, 0, 0, 4, 2);
        d.readUpdate(new int[8], 4);
        assertThat(fb.subscribers()).isEqualTo(1);
        c.close();
        d.close();
        awaitCondition(() -> server.clientCount() == 0);
        assertThat(fb.subscribers()).isZero();
    }

    @Test
    void closeDisconnectsClientsAndRemovesTheSocket() throws Exception {
        VncServer server = unix();
        RfbTestClient c = client(server).handshakeNone();
        server.close();
        assertThat(dir.resolve("vnc.sock")).doesNotExist();
        assertThat(c.closedByServer()).isTrue();
        awaitCondition(() -> server.clientCount() == 0);
        assertThat(fb.subscribers()).isZero();
    }

    @Test
    void aSecondServerOnALiveSocketIsRefused() throws Exception {
        unix();
        assertThatThrownBy(() -> VncServer.unix(dir.resolve("vnc.sock"), fb, input))
                .hasMessageContaining("already in use");
    }

    /** Waits for a state the server reaches asynchronously (a client thread finishing). */
    private static void awaitCondition(java.util.function.BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (!done.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not reached");
            }
            Thread.sleep(10);
        }
    }
}
