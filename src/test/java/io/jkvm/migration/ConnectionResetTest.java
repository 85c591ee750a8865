package io.jkvm.migration;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A deadline's reset ends a TLS migration connection at once even while a writer is blocked on
 * it (the peer stopped reading): the deadline's thread does not wait behind that writer, and
 * the blocked write fails. Real TLS over loopback.
 */
class ConnectionResetTest {
    @TempDir
    static Path dir;
    static TestPki pki;

    @BeforeAll
    static void pki() throws Exception {
        pki = TestPki.create(dir);
    }

    @Test
    void aResetDoesNotWaitForAWriterBlockedOnAPeerThatStoppedReading() throws Exception {
        try (SSLServerSocket server = pki.destination.listen(new MigrationAddress("127.0.0.1", 0))) {
            CompletableFuture<SSLSocket> accepted = CompletableFuture.supplyAsync(() -> {
                try {
                    SSLSocket s = (SSLSocket) server.accept();
                    s.startHandshake();
                    return s;
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            try (SSLSocket peer = pki.source.connect(new MigrationAddress("127.0.0.1", server.getLocalPort()), 30_000);
                 SSLSocket s = accepted.get(60, TimeUnit.SECONDS)) {
                try {
                    resetWhileAWriterIsBlocked(s);
                } finally {
                    ConnectionReset.of(s).run(); // a plain close here would wait for a still-blocked writer
                }
            }
        }
    }

    /** The destination writes far more than both sockets' buffers hold while the peer reads nothing; then a reset. */
    private static void resetWhileAWriterIsBlocked(SSLSocket s) throws Exception {
        AtomicLong written = new AtomicLong();
        Thread writer = Thread.ofPlatform().name("blocked-writer").start(() -> {
            byte[] block = new byte[1 << 16];
            try {
                OutputStream out = s.getOutputStream();
                for (int i = 0; i < 4096; i++) {
                    out.write(block);
                    written.addAndGet(block.length);
                }
            } catch (IOException expected) {
                // the reset failed it: what the test waits for
            }
        });
        awaitBlockedInWrite(writer, written);
        long t0 = System.nanoTime();
        ConnectionReset.of(s).run();
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).as("the reset waited for the blocked writer")
                .isLessThan(Duration.ofSeconds(5));
        writer.join(Duration.ofSeconds(30));
        assertThat(writer.isAlive()).as("the blocked write failed").isFalse();
        assertThat(s.isClosed()).isTrue();
    }

    @Test
    void aSecondResetOrOneOfAClosedSocketIsHarmless() throws Exception {
        try (java.net.Socket s = new java.net.Socket()) {
            Runnable reset = ConnectionReset.of(s);
            reset.run();
            reset.run();
            assertThat(s.isClosed()).isTrue();
        }
    }

    /**
     * Until the writer sits in a socket write making no progress through several samples (the
     * peer reads nothing, so once the buffers are full it cannot), bounded.
     */
    private static void awaitBlockedInWrite(Thread writer, AtomicLong written) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        long last = -1;
        int still = 0;
        while (still < 5) {
            StackTraceElement[] st = writer.getStackTrace();
            boolean inWrite = Arrays.stream(st).anyMatch(f -> f.getClassName().endsWith("NioSocketImpl") && f.getMethodName().equals("write"));
            long now = written.get();
            still = inWrite && now == last ? still + 1 : 0;
            last = now;
            assertThat(writer.isAlive()).as("the writer blocks (the peer reads nothing)").isTrue();
            assertThat(System.nanoTime()).as("the writer blocked within 60 s: " + Arrays.toString(st)).isLessThan(deadline);
            writer.join(50); // the next sample; ends early if the writer ends
        }
    }
}
