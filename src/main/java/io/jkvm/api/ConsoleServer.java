package io.jkvm.api;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The guest's serial console on a Unix stream socket (0600), for {@code jkvm vm console}:
 * everything the guest prints goes to the primary output (the VM's log file) and to every
 * attached client; bytes a client sends are typed into the UART. A raw byte stream, no protocol.
 *
 * <p>Guest output arrives on vCPU threads, which must never wait for a slow client: each client
 * has a bounded queue drained by its own thread, and output that does not fit is dropped for
 * that client only (the log file still gets all of it).
 */
public final class ConsoleServer implements AutoCloseable {
    private static final int CLIENT_QUEUE_CHUNKS = 4096;

    private final Path socket;
    private final ServerSocketChannel server;
    private final OutputStream primary;
    private final ByteQueueInputStream input = new ByteQueueInputStream(64 * 1024);
    private final Set<Client> clients = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    private ConsoleServer(Path socket, ServerSocketChannel server, OutputStream primary) {
        this.socket = socket;
        this.server = server;
        this.primary = primary;
    }

    public static ConsoleServer start(Path socket, OutputStream primary) throws IOException {
        UdsHttpServer.prepare(socket);
        ServerSocketChannel ch = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        Path bound = UdsHttpServer.privateBindPath(socket);
        ch.bind(UnixDomainSocketAddress.of(bound));
        UdsHttpServer.publish(bound, socket);
        ConsoleServer s = new ConsoleServer(socket, ch, primary);
        Thread.ofPlatform().name("console-accept").daemon(true).start(s::acceptLoop);
        return s;
    }

    /** What the guest's UART should read: bytes typed by attached clients. */
    public InputStream input() {
        return input;
    }

    /** Where the guest's UART writes: the primary output plus every client. */
    public OutputStream output() {
        return new OutputStream() {
            @Override
            public void write(int b) throws IOException {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                primary.write(b, off, len);
                primary.flush();
                if (!clients.isEmpty()) {
                    byte[] chunk = java.util.Arrays.copyOfRange(b, off, off + len);
                    for (Client c : clients) {
                        c.queue.offer(chunk);
                    }
                }
            }

            @Override
            public void flush() throws IOException {
                primary.flush();
            }
        };
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                SocketChannel ch = server.accept();
                Client c = new Client(ch);
                clients.add(c);
                Thread.ofPlatform().name("console-out").daemon(true).start(c::drain);
                Thread.ofPlatform().name("console-in").daemon(true).start(c::pump);
            } catch (IOException e) {
                if (closed) {
                    return;
                }
            }
        }
    }

    private final class Client {
        final SocketChannel ch;
        final BlockingQueue<byte[]> queue = new ArrayBlockingQueue<>(CLIENT_QUEUE_CHUNKS);

        Client(SocketChannel ch) {
            this.ch = ch;
        }

        void drain() {
            try {
                while (ch.isOpen()) {
                    ByteBuffer buf = ByteBuffer.wrap(queue.take());
                    while (buf.hasRemaining()) {
                        ch.write(buf);
                    }
                }
            } catch (IOException | InterruptedException e) {
                // client gone
            } finally {
                drop();
            }
        }

        void pump() {
            ByteBuffer buf = ByteBuffer.allocate(1024);
            try {
                while (ch.read(buf.clear()) >= 0) {
                    input.put(buf.array(), 0, buf.position());
                }
            } catch (IOException | InterruptedException e) {
                // client gone
            } finally {
                drop();
                queue.offer(new byte[0]); // wake the drain thread so it sees the channel closed
            }
        }

        void drop() {
            clients.remove(this);
            try {
                ch.close();
            } catch (IOException e) {
                // closing anyway
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException e) {
            // closing anyway
        }
        for (Client c : clients) {
            c.drop();
        }
        try {
            Files.deleteIfExists(socket);
        } catch (IOException e) {
            // nothing more to do
        }
    }
}
