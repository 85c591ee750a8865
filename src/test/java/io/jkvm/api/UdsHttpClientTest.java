package io.jkvm.api;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The daemon's client to a VMM never sends a request into a kept-alive connection, which the
 * server may be closing at that moment (its idle timeout). The stand-in server here answers the
 * first request of a connection and drops any second one unanswered, as a server whose idle
 * timeout fired just as the request went out.
 */
class UdsHttpClientTest {
    @Test
    void eachRequestHasAConnectionOfItsOwn(@TempDir Path dir) throws Exception {
        Path sock = dir.resolve("api.sock");
        List<String> requests = new CopyOnWriteArrayList<>();
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(sock));
            Thread t = Thread.ofVirtual().start(() -> serve(server, requests));
            try (UdsHttpClient client = new UdsHttpClient(sock)) {
                for (String path : List.of("/machine-config", "/boot-source", "/actions")) {
                    UdsHttpClient.Reply r = client.send("PUT", path, "{}", Duration.ofSeconds(30));
                    assertThat(r.status()).as(path).isEqualTo(204);
                }
            } finally {
                server.close();
                t.join(Duration.ofSeconds(10));
            }
        }
        assertThat(requests).hasSize(3).allSatisfy(r -> assertThat(r.toLowerCase()).contains("connection: close"));
    }

    /** Answers the first request of each connection with a keep-alive 204; a second one is dropped. */
    private static void serve(ServerSocketChannel server, List<String> requests) {
        while (server.isOpen()) {
            try (SocketChannel c = server.accept()) {
                String head = readHead(c);
                if (head == null) {
                    continue;
                }
                requests.add(head);
                c.write(ByteBuffer.wrap("HTTP/1.1 204 No Content\r\n\r\n".getBytes(StandardCharsets.US_ASCII)));
                readHead(c); // a request on the same connection: closed unanswered
            } catch (IOException e) {
                return; // the server socket was closed: the test is over
            }
        }
    }

    /** The request line and headers, and the body its Content-Length announces; null at end of stream. */
    private static String readHead(SocketChannel c) throws IOException {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        ByteBuffer b = ByteBuffer.allocate(1);
        while (!got.toString(StandardCharsets.US_ASCII).endsWith("\r\n\r\n")) {
            b.clear();
            if (c.read(b) < 0) {
                return null;
            }
            got.write(b.get(0));
        }
        String head = got.toString(StandardCharsets.US_ASCII);
        int length = head.lines().filter(l -> l.toLowerCase().startsWith("content-length:"))
                .mapToInt(l -> Integer.parseInt(l.substring(15).strip())).findFirst().orElse(0);
        ByteBuffer body = ByteBuffer.allocate(length);
        while (body.hasRemaining() && c.read(body) >= 0) {
            // the request body, which this stand-in does not need
        }
        return head;
    }
}
