package io.jkvm.bench;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * QEMU's human monitor (HMP) on a Unix socket ({@code -monitor unix:PATH,server=on,wait=off}):
 * send a line, read up to the next {@code (qemu) } prompt. For the restore and migration figures.
 */
final class QemuMonitor implements AutoCloseable {
    private final SocketChannel ch;

    private QemuMonitor(SocketChannel ch) {
        this.ch = ch;
    }

    /** Connects and reads the banner up to the first prompt. */
    static QemuMonitor connect(Path socket) throws IOException {
        SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX);
        ch.connect(UnixDomainSocketAddress.of(socket));
        QemuMonitor m = new QemuMonitor(ch);
        m.command(null);
        return m;
    }

    /** Connects once {@code qemu} has created its monitor socket; fails if QEMU exits first. */
    static QemuMonitor connectWhenUp(Path socket, Process qemu) throws IOException, InterruptedException {
        while (true) {
            try {
                return connect(socket);
            } catch (IOException e) {
                if (!qemu.isAlive()) {
                    throw new IOException("QEMU exited (status " + qemu.exitValue() + ") before its monitor " + socket
                            + " was up", e);
                }
                // QEMU creates the socket early in its start-up; poll for it while it lives.
                Thread.sleep(20);
            }
        }
    }

    /** Sends {@code line} (none if null) and returns everything up to the next prompt. */
    String command(String line) throws IOException {
        if (line != null) {
            ByteBuffer b = ByteBuffer.wrap((line + "\n").getBytes(StandardCharsets.UTF_8));
            while (b.hasRemaining()) {
                ch.write(b);
            }
        }
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        ByteBuffer buf = ByteBuffer.allocate(4096);
        while (!got.toString(StandardCharsets.UTF_8).endsWith("(qemu) ")) {
            buf.clear();
            if (ch.read(buf) < 0) {
                if ("quit".equals(line)) {
                    break;
                }
                throw new IOException("QEMU monitor closed: " + got.toString(StandardCharsets.UTF_8));
            }
            got.write(buf.array(), 0, buf.position());
        }
        return got.toString(StandardCharsets.UTF_8);
    }

    /** Polls {@code info migrate} until the migration completed; returns that report. */
    String awaitMigration(long timeoutSeconds) throws IOException {
        long deadline = System.nanoTime() + timeoutSeconds * 1_000_000_000L;
        String info;
        while (!(info = command("info migrate")).contains("Migration status: completed")) {
            if (info.contains("Migration status: failed") || System.nanoTime() > deadline) {
                throw new IOException("QEMU migration did not complete: " + info.strip());
            }
        }
        return info;
    }

    @Override
    public void close() throws IOException {
        ch.close();
    }
}
