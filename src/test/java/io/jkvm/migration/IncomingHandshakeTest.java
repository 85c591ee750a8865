package io.jkvm.migration;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A destination waiting for a migration takes connections one at a time, and anyone who can reach
 * its port can open one before authenticating. Neither a peer that trickles its handshake nor any
 * number of peers that fail it may keep a real source out or end the wait. Each test ends with a
 * trusted source that sends a bad stream header: the failure that receive() reports then is that
 * source's, proof it was served.
 */
class IncomingHandshakeTest {
    @TempDir
    static Path dir;
    static TestPki pki;

    private static final MigrationTarget.Factory NO_TARGET = (config, shape) -> {
        throw new AssertionError("no source gets past its stream header here");
    };

    @BeforeAll
    static void pki() throws Exception {
        pki = TestPki.create(dir);
    }

    private static CompletableFuture<Void> receiving(SSLServerSocket server, long handshakeMillis) {
        return CompletableFuture.runAsync(() -> {
            try {
                IncomingMigration.receive(server, NO_TARGET, handshakeMillis);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }

    /** A trusted source whose stream does not start with jkvm's header: receive() ends with that. */
    private static void trustedSourceWithABadHeader(SSLServerSocket server) throws Exception {
        try (SSLSocket c = pki.source.connect(new MigrationAddress("127.0.0.1", server.getLocalPort()), 30_000)) {
            c.getOutputStream().write("NOT-JKVM-STREAM".getBytes(StandardCharsets.US_ASCII));
            c.getOutputStream().flush();
            c.getInputStream().read(); // the destination's FAILED, or its close
        }
    }

    private static void assertServedTheTrustedSource(CompletableFuture<Void> received) {
        assertThatThrownBy(() -> received.get(60, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                .cause().isInstanceOf(MigrationException.class).hasMessageContaining("stream header");
    }

    @Test
    void aPeerTricklingItsHandshakeIsCutOffAtTheDeadlineAndTheSourceBehindItIsServed() throws Exception {
        try (SSLServerSocket server = pki.destination.listen(new MigrationAddress("127.0.0.1", 0));
             Socket slow = new Socket()) {
            CompletableFuture<Void> received = receiving(server, 1_000);
            slow.connect(new InetSocketAddress("127.0.0.1", server.getLocalPort()), 30_000);
            OutputStream out = slow.getOutputStream();
            out.write(0x16); // a TLS handshake record begins; the rest comes a byte at a time
            out.flush();
            // One byte every 100 ms: each read's timeout (60 s) would never fire.
            CompletableFuture<Void> trickle = CompletableFuture.runAsync(() -> {
                try {
                    for (int i = 0; i < 600; i++) {
                        out.write(0x03);
                        out.flush();
                        Thread.sleep(100);
                    }
                } catch (java.io.IOException e) {
                    // the destination closed it: what the test waits for
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            trustedSourceWithABadHeader(server);
            assertServedTheTrustedSource(received);
            slow.setSoTimeout(30_000);
            InputStream in = slow.getInputStream();
            // Closed by the destination: perhaps a TLS alert first, then the end of the stream.
            assertThat(in.readNBytes(1 << 16)).as("the trickling peer's connection, closed by the destination")
                    .hasSizeLessThan(1 << 16);
            trickle.get(60, TimeUnit.SECONDS);
        }
    }

    @Test
    void peersFailingTheHandshakeNeverEndTheWait() throws Exception {
        try (SSLServerSocket server = pki.destination.listen(new MigrationAddress("127.0.0.1", 0))) {
            CompletableFuture<Void> received = receiving(server, 30_000);
            // More than the 64 refused peers that once made the destination give up (and its VMM exit).
            for (int i = 0; i < 100; i++) {
                try (Socket scanner = new Socket()) {
                    scanner.connect(new InetSocketAddress("127.0.0.1", server.getLocalPort()), 30_000);
                    scanner.setSoTimeout(30_000);
                    scanner.getOutputStream().write("GET / HTTP/1.0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                    scanner.getOutputStream().flush();
                    // Until the destination has dealt with this one (an alert, then its close).
                    while (scanner.getInputStream().read() >= 0) {
                        // drain
                    }
                }
                assertThat(received).as("after %d failed handshakes", i + 1).isNotDone();
            }
            trustedSourceWithABadHeader(server);
            assertServedTheTrustedSource(received);
        }
    }
}
