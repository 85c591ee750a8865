package io.jkvm.daemon.web;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A stand-in for a VM's serial console socket (no VM: this host has no KVM): every byte a client
 * sends comes back unchanged (as a terminal's echo), and at a carriage return the line typed so
 * far is answered with {@code "\r\nstand-in: LINE IN CAPITALS\r\n"}, output the typing alone
 * could not have produced.
 */
final class StandInConsole implements AutoCloseable {
    private final ServerSocketChannel server;
    private final Path path;
    final Set<SocketChannel> clients = ConcurrentHashMap.newKeySet();

    StandInConsole(Path path) throws IOException {
        this.path = path;
        Files.deleteIfExists(path);
        server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(path));
        Thread.ofVirtual().start(this::accept);
    }

    private void accept() {
        try {
            while (true) {
                SocketChannel c = server.accept();
                clients.add(c);
                Thread.ofVirtual().start(() -> serve(c));
            }
        } catch (IOException e) {
            // closed
        }
    }

    private void serve(SocketChannel c) {
        StringBuilder line = new StringBuilder();
        ByteBuffer buf = ByteBuffer.allocate(4096);
        try (c) {
            while (c.read(buf.clear()) >= 0) {
                buf.flip();
                ByteBuffer out = ByteBuffer.allocate(buf.remaining() * 2 + 256);
                while (buf.hasRemaining()) {
                    byte b = buf.get();
                    out.put(b);
                    if (b == '\r') {
                        String answer = "\r\nstand-in: " + line.toString().toUpperCase(Locale.ROOT) + "\r\n";
                        line.setLength(0);
                        out.put(answer.getBytes(StandardCharsets.UTF_8), 0, Math.min(answer.length(), out.remaining()));
                    } else if (line.length() < 100) {
                        line.append((char) (b & 0xff));
                    }
                }
                out.flip();
                while (out.hasRemaining()) {
                    c.write(out);
                }
            }
        } catch (IOException e) {
            // client gone
        } finally {
            clients.remove(c);
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
        for (SocketChannel c : clients) {
            c.close();
        }
        Files.deleteIfExists(path);
    }
}
