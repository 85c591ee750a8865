package io.jkvm.migration;

import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocket;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;

/**
 * Mutually authenticated TLS 1.3 for migration (RFC 8446): each side presents its certificate
 * and accepts only a peer whose certificate chains to the configured CA. The client also checks
 * the destination's certificate names the host it dialled (subjectAltName, RFC 6125), so a
 * certificate for another machine signed by the same CA is refused. Guest memory crosses the
 * network only inside this channel.
 *
 * @param cert PEM certificate (chain) presented to the peer
 * @param key  its unencrypted PKCS#8 private key
 * @param ca   PEM CA certificate(s) a peer's certificate must chain to
 */
public record MigrationTls(Path cert, Path key, Path ca) {
    static final String[] PROTOCOLS = {"TLSv1.3"};

    public MigrationTls {
        if (cert == null || key == null || ca == null) {
            throw new MigrationException("--tls-cert, --tls-key and --tls-ca are all required for migration");
        }
    }

    /** Builds the SSLContext, naming the option whose file is wrong. */
    public SSLContext context() {
        List<X509Certificate> chain = PemFiles.certificates("--tls-cert", cert);
        PrivateKey pk = PemFiles.privateKey("--tls-key", key);
        List<X509Certificate> cas = PemFiles.certificates("--tls-ca", ca);
        requireMatch(pk, chain.getFirst());
        try {
            KeyStore ts = KeyStore.getInstance("PKCS12");
            ts.load(null, null);
            for (int i = 0; i < cas.size(); i++) {
                ts.setCertificateEntry("ca" + i, cas.get(i));
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ts);
            SSLContext ctx = SSLContext.getInstance("TLSv1.3");
            ctx.init(new javax.net.ssl.KeyManager[] {new OwnKeyManager(pk, chain)}, tmf.getTrustManagers(), null);
            return ctx;
        } catch (GeneralSecurityException | IOException e) {
            throw new MigrationException("--tls-ca: " + ca + " cannot be used to check the peer: " + e.getMessage(), e);
        }
    }

    /** The key must be the certificate's: otherwise every handshake would fail with a vaguer message. */
    private void requireMatch(PrivateKey pk, X509Certificate c) {
        String alg = switch (pk.getAlgorithm()) {
            case "EC" -> "SHA256withECDSA";
            case "RSA" -> "SHA256withRSA";
            default -> pk.getAlgorithm();
        };
        try {
            byte[] probe = "jkvm key check".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            java.security.Signature sig = java.security.Signature.getInstance(alg);
            sig.initSign(pk);
            sig.update(probe);
            byte[] signed = sig.sign();
            sig.initVerify(c.getPublicKey());
            sig.update(probe);
            if (!sig.verify(signed)) {
                throw new MigrationException("--tls-key: " + key + " is not the key of the certificate in " + cert);
            }
        } catch (GeneralSecurityException e) {
            throw new MigrationException("--tls-key: " + key + " is not the key of the certificate in " + cert
                    + " (" + e.getMessage() + ")");
        }
    }

    /** A listening socket that demands a client certificate. */
    public SSLServerSocket listen(MigrationAddress at) throws IOException {
        SSLServerSocket s = (SSLServerSocket) context().getServerSocketFactory().createServerSocket();
        s.setReuseAddress(true);
        s.bind(new InetSocketAddress(InetAddress.getByName(at.host()), at.port()), 1);
        s.setEnabledProtocols(PROTOCOLS);
        s.setNeedClientAuth(true);
        return s;
    }

    /** A client connection: the TLS socket and the TCP socket under it (closing that one unblocks any I/O). */
    public record Connection(java.net.Socket raw, SSLSocket tls) implements java.io.Closeable {
        @Override
        public void close() throws IOException {
            raw.close();
        }
    }

    /** Connects and completes the handshake (fails here if the destination is not trusted). */
    public SSLSocket connect(MigrationAddress to, int timeoutMillis) throws IOException {
        return open(to, timeoutMillis).tls();
    }

    /**
     * Like {@link #connect}, keeping the TCP socket: closing an SSLSocket from another thread
     * first tries to send close_notify, which can wait behind a writer blocked on a peer that
     * stopped reading; closing the TCP socket fails that writer at once.
     */
    public Connection open(MigrationAddress to, int timeoutMillis) throws IOException {
        java.net.Socket raw = new java.net.Socket();
        try {
            raw.connect(new InetSocketAddress(InetAddress.getByName(to.host()), to.port()), timeoutMillis);
            raw.setSoTimeout(timeoutMillis);
            // Records are buffered and flushed whole: Nagle would only hold back the small
            // exchanges each side waits on (DONE/RESUMED inside the downtime, post-copy's REQUESTs).
            raw.setTcpNoDelay(true);
            SSLSocket s = (SSLSocket) context().getSocketFactory().createSocket(raw, to.host(), to.port(), true);
            s.setEnabledProtocols(PROTOCOLS);
            s.setUseClientMode(true);
            SSLParameters p = s.getSSLParameters();
            p.setEndpointIdentificationAlgorithm("HTTPS");
            s.setSSLParameters(p);
            try {
                s.startHandshake();
            } catch (IOException e) {
                // A peer refusing our certificate closes the connection: with TCP_NODELAY that can
                // surface as a broken pipe while our last handshake flight is still being written.
                javax.net.ssl.SSLHandshakeException h = new javax.net.ssl.SSLHandshakeException("TLS handshake with " + to
                        + " failed (does the peer trust this side's certificate, and this side the peer's?): " + e);
                h.initCause(e);
                throw h;
            }
            return new Connection(raw, s);
        } catch (IOException | RuntimeException e) {
            raw.close();
            throw e;
        }
    }
}
