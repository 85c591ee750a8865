package io.jkvm.daemon.web;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A stand-in for a VM's display socket (no VM here): the server side of RFB 3.8 (RFC 6143) far
 * enough for noVNC to connect: version, security type None (1), ServerInit for a
 * {@link #WIDTH}x{@link #HEIGHT} framebuffer of one colour ({@link #RGB}), then a Raw update of
 * the whole screen (in the client's SetPixelFormat, 32 bpp little-endian as noVNC asks) for each
 * non-incremental FramebufferUpdateRequest. Other client messages
 * (RFC 6143 §7.5) are read and dropped.
 */
final class StandInRfb implements AutoCloseable {
    static final int WIDTH = 320;
    static final int HEIGHT = 200;
    static final int RGB = 0x1f6feb;
    static final String NAME = "jkvm stand-in display";
    static final byte[] VERSION = "RFB 003.008\n".getBytes(StandardCharsets.US_ASCII);

    private final ServerSocketChannel server;
    private final Path path;

    StandInRfb(Path path) throws IOException {
        this.path = path;
        Files.deleteIfExists(path);
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(path));
        Thread.ofVirtual().start(() -> {
            try {
                while (true) {
                    SocketChannel c = server.accept();
                    Thread.ofVirtual().start(() -> serve(c));
                }
            } catch (IOException e) {
                // closed
            }
        });
    }

    private static void serve(SocketChannel c) {
        try (c) {
            DataInputStream in = new DataInputStream(Channels.newInputStream(c));
            OutputStream out = Channels.newOutputStream(c);
            out.write(VERSION);
            in.readFully(new byte[12]); // the client's version
            out.write(new byte[] {1, 1}); // one security type: None
            in.readUnsignedByte();
            out.write(new byte[] {0, 0, 0, 0}); // SecurityResult OK
            in.readUnsignedByte(); // ClientInit (shared flag)
            ByteBuffer init = ByteBuffer.allocate(24 + NAME.length());
            init.putShort((short) WIDTH).putShort((short) HEIGHT);
            // PIXEL_FORMAT: 32 bpp, depth 24, little-endian, true colour, max 255, shifts 16/8/0
            init.put((byte) 32).put((byte) 24).put((byte) 0).put((byte) 1)
                    .putShort((short) 255).putShort((short) 255).putShort((short) 255)
                    .put((byte) 16).put((byte) 8).put((byte) 0).put(new byte[3]);
            init.putInt(NAME.length()).put(NAME.getBytes(StandardCharsets.US_ASCII));
            out.write(init.array());
            int[] shifts = {16, 8, 0}; // red, green, blue: ours until the client picks its own
            while (true) {
                int type = in.readUnsignedByte();
                switch (type) {
                    case 0 -> { // SetPixelFormat: noVNC asks for its own shifts (still 32 bpp, little-endian)
                        byte[] pf = new byte[19];
                        in.readFully(pf);
                        shifts = new int[] {pf[13] & 0xff, pf[14] & 0xff, pf[15] & 0xff};
                    }
                    case 2 -> {
                        in.readUnsignedByte();
                        int n = in.readUnsignedShort();
                        in.readFully(new byte[4 * n]);
                    }
                    case 3 -> {
                        boolean incremental = in.readUnsignedByte() != 0;
                        in.readFully(new byte[8]);
                        if (!incremental) {
                            out.write(fullUpdate(shifts));
                        }
                    }
                    case 4 -> in.readFully(new byte[7]);
                    case 5 -> in.readFully(new byte[5]);
                    case 6 -> {
                        in.readFully(new byte[3]);
                        int len = in.readInt();
                        if (len < 0 || len > 1 << 20) {
                            return;
                        }
                        in.readFully(new byte[len]);
                    }
                    default -> {
                        return; // a message this stand-in does not know: hang up
                    }
                }
            }
        } catch (IOException e) {
            // client gone
        }
    }

    private static byte[] fullUpdate(int[] shifts) {
        int pixel = (RGB >> 16 & 0xff) << shifts[0] | (RGB >> 8 & 0xff) << shifts[1] | (RGB & 0xff) << shifts[2];
        ByteBuffer b = ByteBuffer.allocate(4 + 12 + WIDTH * HEIGHT * 4);
        b.put((byte) 0).put((byte) 0).putShort((short) 1); // FramebufferUpdate, one rectangle
        b.putShort((short) 0).putShort((short) 0).putShort((short) WIDTH).putShort((short) HEIGHT).putInt(0); // Raw
        for (int i = 0; i < WIDTH * HEIGHT; i++) {
            b.put((byte) pixel).put((byte) (pixel >> 8)).put((byte) (pixel >> 16)).put((byte) (pixel >> 24));
        }
        return b.array();
    }

    @Override
    public void close() throws IOException {
        server.close();
        Files.deleteIfExists(path);
    }
}
