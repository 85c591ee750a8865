package io.jkvm.display.vnc;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

/** A minimal RFB client for tests, speaking byte by byte so tests can also misbehave. */
final class RfbTestClient implements AutoCloseable {
    final DataInputStream in;
    final OutputStream out;
    private final java.io.Closeable socket;
    int width;
    int height;
    String name;

    private RfbTestClient(InputStream in, OutputStream out, java.io.Closeable socket) {
        this.in = new DataInputStream(new java.io.BufferedInputStream(in));
        this.out = out;
        this.socket = socket;
    }

    static RfbTestClient connect(SocketAddress address) throws IOException {
        if (address instanceof UnixDomainSocketAddress) {
            SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            ch.connect(address);
            return new RfbTestClient(Channels.newInputStream(ch), Channels.newOutputStream(ch), ch);
        }
        Socket s = new Socket();
        s.connect(address);
        s.setSoTimeout(20_000);
        return new RfbTestClient(s.getInputStream(), s.getOutputStream(), s);
    }

    /** A TCP client connecting from {@code local} (another loopback address is another peer). */
    static RfbTestClient connectFrom(SocketAddress address, java.net.InetAddress local) throws IOException {
        Socket s = new Socket();
        s.bind(new InetSocketAddress(local, 0));
        s.connect(address);
        s.setSoTimeout(20_000);
        return new RfbTestClient(s.getInputStream(), s.getOutputStream(), s);
    }

    /** A TCP client whose receive buffer is small, so a server writing to it fills it soon. */
    static RfbTestClient connectSmallBuffer(InetSocketAddress address) throws IOException {
        Socket s = new Socket();
        s.setReceiveBufferSize(4096);
        s.connect(address);
        s.setSoTimeout(20_000);
        return new RfbTestClient(s.getInputStream(), s.getOutputStream(), s);
    }

    byte[] read(int n) throws IOException {
        byte[] b = new byte[n];
        in.readFully(b);
        return b;
    }

    String readString() throws IOException {
        return new String(read(in.readInt()), StandardCharsets.UTF_8);
    }

    void send(byte[] b) throws IOException {
        out.write(b);
        out.flush();
    }

    void send(ByteBuffer b) throws IOException {
        send(java.util.Arrays.copyOf(b.array(), b.position()));
    }

    /** The server's version, then ours. */
    void version(String ours) throws IOException {
        assertThat(new String(read(12), StandardCharsets.US_ASCII)).isEqualTo("RFB 003.008\n");
        send(ours.getBytes(StandardCharsets.US_ASCII));
    }

    /** A full 3.8 handshake with security type None (Unix socket). */
    RfbTestClient handshakeNone() throws IOException {
        version("RFB 003.008\n");
        assertThat(read(2)).containsExactly(1, 1);
        send(new byte[] {1});
        assertThat(in.readInt()).isZero();
        return init();
    }

    /** A full 3.8 handshake with VNC Authentication. */
    RfbTestClient handshakeAuth(String password) throws IOException {
        version("RFB 003.008\n");
        assertThat(read(2)).containsExactly(1, 2);
        send(new byte[] {2});
        send(VncAuth.response(VncAuth.key(password), read(16)));
        assertThat(in.readInt()).isZero();
        return init();
    }

    /** ClientInit, then reads ServerInit. */
    RfbTestClient init() throws IOException {
        send(new byte[] {1});
        width = in.readUnsignedShort();
        height = in.readUnsignedShort();
        assertThat(read(16)).containsExactly(32, 24, 0, 1, 0, (byte) 255, 0, (byte) 255, 0, (byte) 255, 16, 8, 0, 0, 0, 0);
        name = readString();
        return this;
    }

    void setEncodings(int... encodings) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4 + 4 * encodings.length).put((byte) 2).put((byte) 0)
                .putShort((short) encodings.length);
        for (int e : encodings) {
            b.putInt(e);
        }
        send(b);
    }

    void setPixelFormat(PixelFormat pf) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(20).put((byte) 0).put(new byte[3]);
        pf.write(b);
        send(b);
    }

    void request(boolean incremental, int x, int y, int w, int h) throws IOException {
        send(ByteBuffer.allocate(10).put((byte) 3).put((byte) (incremental ? 1 : 0))
                .putShort((short) x).putShort((short) y).putShort((short) w).putShort((short) h));
    }

    void key(boolean down, int keysym) throws IOException {
        send(ByteBuffer.allocate(8).put((byte) 4).put((byte) (down ? 1 : 0)).putShort((short) 0).putInt(keysym));
    }

    void pointer(int buttons, int x, int y) throws IOException {
        send(ByteBuffer.allocate(6).put((byte) 5).put((byte) buttons).putShort((short) x).putShort((short) y));
    }

    void cutText(int length, byte[] text) throws IOException {
        send(ByteBuffer.allocate(8 + text.length).put((byte) 6).put(new byte[3]).putInt(length).put(text));
    }

    /** A FramebufferUpdate's header: returns its number of rectangles. */
    int updateHeader() throws IOException {
        assertThat(in.readUnsignedByte()).as("message type FramebufferUpdate").isZero();
        in.readUnsignedByte();
        return in.readUnsignedShort();
    }

    /** x, y, w, h, encoding. */
    int[] rectHeader() throws IOException {
        return new int[] {in.readUnsignedShort(), in.readUnsignedShort(), in.readUnsignedShort(),
                in.readUnsignedShort(), in.readInt()};
    }

    /**
     * Reads a whole update in the default pixel format (Raw or Hextile) into {@code screen}
     * (row-major, {@code screenWidth} wide); returns the rectangle headers.
     */
    java.util.List<int[]> readUpdate(int[] screen, int screenWidth) throws IOException {
        int n = updateHeader();
        java.util.List<int[]> rects = new java.util.ArrayList<>();
        for (int i = 0; i < n; i++) {
            int[] r = rectHeader();
            rects.add(r);
            switch (r[4]) {
                case Encodings.RAW -> {
                    for (int y = 0; y < r[3]; y++) {
                        for (int x = 0; x < r[2]; x++) {
                            screen[(r[1] + y) * screenWidth + r[0] + x] = pixel32le();
                        }
                    }
                }
                case Encodings.HEXTILE -> readHextile(r, screen, screenWidth);
                case Encodings.DESKTOP_SIZE -> { }
                default -> throw new AssertionError("encoding " + r[4]);
            }
        }
        return rects;
    }

    private int pixel32le() throws IOException {
        return Integer.reverseBytes(in.readInt());
    }

    /** Decodes a Hextile rectangle body of {@code w} x {@code h} in the default pixel format; checks it is all used. */
    static int[] decodeHextile(byte[] data, int w, int h) throws IOException {
        java.io.ByteArrayInputStream bytes = new java.io.ByteArrayInputStream(data);
        RfbTestClient c = new RfbTestClient(bytes, OutputStream.nullOutputStream(), () -> { });
        int[] screen = new int[w * h];
        c.readHextile(new int[] {0, 0, w, h, Encodings.HEXTILE}, screen, w);
        assertThat(c.in.read()).as("bytes left over").isEqualTo(-1);
        return screen;
    }

    /** A Hextile decoder (RFC 6143 section 7.7.4), all subencodings. */
    private void readHextile(int[] r, int[] screen, int screenWidth) throws IOException {
        int bg = 0;
        int fg = 0;
        for (int ty = 0; ty < r[3]; ty += 16) {
            for (int tx = 0; tx < r[2]; tx += 16) {
                int tw = Math.min(16, r[2] - tx);
                int th = Math.min(16, r[3] - ty);
                int mask = in.readUnsignedByte();
                int ox = r[0] + tx;
                int oy = r[1] + ty;
                if ((mask & 1) != 0) {
                    for (int y = 0; y < th; y++) {
                        for (int x = 0; x < tw; x++) {
                            screen[(oy + y) * screenWidth + ox + x] = pixel32le();
                        }
                    }
                    continue;
                }
                if ((mask & 2) != 0) {
                    bg = pixel32le();
                }
                for (int y = 0; y < th; y++) {
                    for (int x = 0; x < tw; x++) {
                        screen[(oy + y) * screenWidth + ox + x] = bg;
                    }
                }
                if ((mask & 4) != 0) {
                    fg = pixel32le();
                }
                if ((mask & 8) != 0) {
                    int count = in.readUnsignedByte();
                    for (int s = 0; s < count; s++) {
                        int colour = (mask & 16) != 0 ? pixel32le() : fg;
                        int xy = in.readUnsignedByte();
                        int wh = in.readUnsignedByte();
                        for (int y = 0; y <= (wh & 15); y++) {
                            for (int x = 0; x <= (wh >> 4); x++) {
                                screen[(oy + (xy & 15) + y) * screenWidth + ox + (xy >> 4) + x] = colour;
                            }
                        }
                    }
                }
            }
        }
    }

    /** True once the server has closed the connection (reads and drops anything still in flight). */
    boolean closedByServer() throws IOException {
        byte[] sink = new byte[65536];
        try {
            while (in.read(sink) >= 0) {
                // draining
            }
            return true;
        } catch (EOFException e) {
            return true;
        } catch (IOException e) {
            // a reset is a close too
            return e.getMessage() != null && e.getMessage().contains("reset");
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
