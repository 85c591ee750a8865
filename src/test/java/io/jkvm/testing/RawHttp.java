package io.jkvm.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

/**
 * A deliberately minimal HTTP/1.1 client over a Unix socket for tests: it writes requests byte
 * for byte (so tests can also send broken ones) and reads the answer until the server closes
 * ({@code Connection: close}). Independent of the product's Jetty-based code.
 */
public final class RawHttp {
    /** Status line code, and the body. */
    public record Reply(int status, String body, String raw) {}

    private RawHttp() {}

    public static Reply request(Path socket, String method, String path, String json) throws IOException {
        StringBuilder req = new StringBuilder();
        req.append(method).append(' ').append(path).append(" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        byte[] body = json == null ? new byte[0] : json.getBytes(StandardCharsets.UTF_8);
        if (json != null) {
            req.append("Content-Type: application/json\r\nContent-Length: ").append(body.length).append("\r\n");
        }
        req.append("\r\n");
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        all.writeBytes(req.toString().getBytes(StandardCharsets.US_ASCII));
        all.writeBytes(body);
        return raw(socket, all.toByteArray(), Duration.ofSeconds(60));
    }

    /** Sends {@code bytes} as they are and reads whatever comes back until the server closes. */
    public static Reply raw(Path socket, byte[] bytes, Duration timeout) throws IOException {
        try (SocketChannel ch = SocketChannel.open(StandardProtocolFamily.UNIX)) {
            ch.connect(UnixDomainSocketAddress.of(socket));
            ByteBuffer out = ByteBuffer.wrap(bytes);
            while (out.hasRemaining()) {
                ch.write(out);
            }
            return readAll(ch, timeout);
        }
    }

    /** Reads until end of stream; the socket's peer decides when that is (tests bound it with @Timeout). */
    public static Reply readAll(SocketChannel ch, Duration timeout) throws IOException {
        var in = java.nio.channels.Channels.newInputStream(ch);
        String text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        int status = -1;
        if (text.startsWith("HTTP/1.1 ") && text.length() >= 12) {
            status = Integer.parseInt(text.substring(9, 12));
        }
        int split = text.indexOf("\r\n\r\n");
        String body = split < 0 ? "" : text.substring(split + 4);
        if (text.toLowerCase().contains("transfer-encoding: chunked")) {
            body = dechunk(body);
        }
        return new Reply(status, body, text);
    }

    private static String dechunk(String s) {
        StringBuilder out = new StringBuilder();
        int i = 0;
        while (i < s.length()) {
            int eol = s.indexOf("\r\n", i);
            if (eol < 0) {
                break;
            }
            int n = Integer.parseInt(s.substring(i, eol).trim(), 16);
            if (n == 0) {
                break;
            }
            out.append(s, eol + 2, eol + 2 + n);
            i = eol + 2 + n + 2;
        }
        return out.toString();
    }
}
