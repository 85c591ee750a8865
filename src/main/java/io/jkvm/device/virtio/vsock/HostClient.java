package io.jkvm.device.virtio.vsock;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * A host client accepted on {@code uds_path} that has not finished its {@code CONNECT <port>\n}
 * line yet (Firecracker's hybrid vsock handshake). The line is read one byte at a time so not a
 * byte of the stream that follows it is consumed, and is at most {@link #MAX_LINE} bytes.
 */
final class HostClient {
    static final int MAX_LINE = 32;
    private static final int MAX_PORT_DIGITS = 10;

    /** How long a client may take to send its CONNECT line: one that never does must not hold a slot. */
    static final long LINE_TIMEOUT_NANOS = 5_000_000_000L;

    final SocketChannel channel;
    /** System.nanoTime() by which the CONNECT line must be complete. */
    final long deadline = System.nanoTime() + LINE_TIMEOUT_NANOS;
    VsockMuxer.Handle handle;
    private final StringBuilder line = new StringBuilder();
    private final ByteBuffer one = ByteBuffer.allocate(1);

    HostClient(SocketChannel channel) {
        this.channel = channel;
    }

    /** What reading did: still waiting (EAGAIN), a port, or the client is to be dropped. */
    sealed interface Step permits Waiting, Port, Drop {}

    record Waiting() implements Step {}

    record Port(long port) implements Step {}

    record Drop(String why) implements Step {}

    /** Reads what is there of the line (non-blocking). */
    Step read() {
        try {
            while (line.length() < MAX_LINE) {
                one.clear();
                int n = channel.read(one);
                if (n == 0) {
                    return new Waiting();
                }
                if (n < 0) {
                    return new Drop("closed before its CONNECT line");
                }
                char c = (char) (one.get(0) & 0xff);
                if (c == '\n') {
                    return parse(line.toString());
                }
                line.append(c);
            }
            return new Drop("CONNECT line longer than " + MAX_LINE + " bytes");
        } catch (IOException e) {
            return new Drop(e.toString());
        }
    }

    /** {@code CONNECT <port>}, port a decimal u32. */
    static Step parse(String s) {
        if (!s.startsWith("CONNECT ")) {
            return new Drop("not a CONNECT line");
        }
        String digits = s.substring("CONNECT ".length());
        if (digits.isEmpty() || digits.length() > MAX_PORT_DIGITS || !digits.chars().allMatch(ch -> ch >= '0' && ch <= '9')) {
            return new Drop("bad port in the CONNECT line");
        }
        long port = Long.parseLong(digits);
        if (port > 0xffff_ffffL) {
            return new Drop("port above u32 in the CONNECT line");
        }
        return new Port(port);
    }
}
