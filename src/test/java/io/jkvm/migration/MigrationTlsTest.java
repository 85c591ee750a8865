package io.jkvm.migration;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLHandshakeException;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Mutual TLS 1.3 on loopback: trusted peers talk, a certificate from another CA is refused by either side. */
class MigrationTlsTest {
    @TempDir
    static Path dir;
    static TestPki pki;

    @BeforeAll
    static void pki() throws Exception {
        pki = TestPki.create(dir);
    }

    /** Accepts one connection on {@code server}, handshakes, echoes one byte; returns the negotiated protocol. */
    private static CompletableFuture<String> serveOnce(SSLServerSocket server) {
        return CompletableFuture.supplyAsync(() -> {
            try (SSLSocket s = (SSLSocket) server.accept()) {
                s.setSoTimeout(30_000);
                s.startHandshake();
                int b = s.getInputStream().read();
                s.getOutputStream().write(b + 1);
                s.getOutputStream().flush();
                return s.getSession().getProtocol();
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }

    @Test
    void trustedPeersTalkTls13() throws Exception {
        try (SSLServerSocket server = pki.destination.listen(new MigrationAddress("127.0.0.1", 0))) {
            CompletableFuture<String> served = serveOnce(server);
            try (SSLSocket c = pki.source.connect(new MigrationAddress("127.0.0.1", server.getLocalPort()), 30_000)) {
                c.getOutputStream().write(41);
                c.getOutputStream().flush();
                assertThat(c.getInputStream().read()).isEqualTo(42);
                assertThat(c.getSession().getProtocol()).isEqualTo("TLSv1.3");
            }
            assertThat(served.get(30, TimeUnit.SECONDS)).isEqualTo("TLSv1.3");
        }
    }

    /** RSA keys, the other kind operators' CAs hand out: each end presents its own, whatever the other's is. */
    @Test
    void rsaAndEcKeysAuthenticateEitherEnd() throws Exception {
        MigrationTls rsaSource = TestPki.rsaNode(pki.dir, "rsa-source");
        MigrationTls rsaDest = TestPki.rsaNode(pki.dir, "rsa-dest");
        for (MigrationTls[] pair : new MigrationTls[][] {{rsaSource, pki.destination}, {pki.source, rsaDest}}) {
            try (SSLServerSocket server = pair[1].listen(new MigrationAddress("127.0.0.1", 0))) {
                CompletableFuture<String> served = serveOnce(server);
                try (SSLSocket c = pair[0].connect(new MigrationAddress("127.0.0.1", server.getLocalPort()), 30_000)) {
                    c.getOutputStream().write(1);
                    c.getOutputStream().flush();
                    assertThat(c.getInputStream().read()).isEqualTo(2);
                    assertThat(c.getSession().getLocalCertificates()[0].getPublicKey().getAlgorithm())
                            .isEqualTo(pair[0] == rsaSource ? "RSA" : "EC");
                    assertThat(c.getSession().getPeerCertificates()[0].getPublicKey().getAlgorithm())
                            .isEqualTo(pair[1] == rsaDest ? "RSA" : "EC");
                }
                assertThat(served.get(30, TimeUnit.SECONDS)).isEqualTo("TLSv1.3");
            }
        }
    }

    @Test
    void theDestinationRefusesASourceWithAnUntrustedCertificate() throws Exception {
        try (SSLServerSocket server = pki.destination.listen(new MigrationAddress("127.0.0.1", 0))) {
            CompletableFuture<String> served = serveOnce(server);
            assertThatThrownBy(() -> {
                try (SSLSocket c = pki.rogue.connect(new MigrationAddress("127.0.0.1", server.getLocalPort()), 30_000)) {
                    // TLS 1.3 clients learn of the refusal on their first read
                    c.getOutputStream().write(1);
                    c.getOutputStream().flush();
                    c.getInputStream().read();
                }
            }).isInstanceOf(IOException.class);
            // The rogue presents its certificate (jkvm's key manager does not filter by the CAs
            // the server names), and the destination's trust check refuses it.
            Throwable thrown = org.assertj.core.api.Assertions.catchThrowable(() -> served.get(30, TimeUnit.SECONDS));
            assertThat(java.util.stream.Stream.iterate(thrown, java.util.Objects::nonNull, Throwable::getCause))
                    .as("the destination's handshake failed").anyMatch(SSLHandshakeException.class::isInstance);
            assertThat(thrown).hasStackTraceContaining("PKIX path building failed");
        }
    }

    @Test
    void theSourceRefusesAnUntrustedDestination() throws Exception {
        try (SSLServerSocket server = pki.rogue.listen(new MigrationAddress("127.0.0.1", 0))) {
            CompletableFuture<String> served = serveOnce(server);
            assertThatThrownBy(() -> pki.source.connect(new MigrationAddress("127.0.0.1", server.getLocalPort()), 30_000))
                    .isInstanceOf(SSLHandshakeException.class);
            assertThatThrownBy(() -> served.get(30, TimeUnit.SECONDS)).isNotNull();
        }
    }

    @Test
    void badPemFilesAreNamedByOption() throws Exception {
        Path junk = dir.resolve("junk.pem");
        Files.writeString(junk, "not a certificate");
        assertThatThrownBy(() -> new MigrationTls(junk, pki.source.key(), pki.source.ca()).context())
                .isInstanceOf(MigrationException.class).hasMessageStartingWith("--tls-cert: ");
        assertThatThrownBy(() -> new MigrationTls(pki.source.cert(), junk, pki.source.ca()).context())
                .isInstanceOf(MigrationException.class).hasMessageStartingWith("--tls-key: ");
        assertThatThrownBy(() -> new MigrationTls(pki.source.cert(), pki.source.key(), dir.resolve("missing")).context())
                .isInstanceOf(MigrationException.class).hasMessageStartingWith("--tls-ca: cannot read");
        assertThatThrownBy(() -> new MigrationTls(pki.source.cert(), pki.dir.resolve("dest.key"), pki.source.ca()).context())
                .isInstanceOf(MigrationException.class).hasMessageStartingWith("--tls-key: ");
        assertThatThrownBy(() -> new MigrationTls(null, null, null)).hasMessageContaining("--tls-cert, --tls-key and --tls-ca");
    }
}
