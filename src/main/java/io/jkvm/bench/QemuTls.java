package io.jkvm.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * QEMU's migration TLS credentials made from the bench's own PKI ({@link MigrateMetric#pki}), so
 * both VMMs authenticate with the same certificates. QEMU's {@code tls-creds-x509} object reads a
 * directory with fixed file names (ca-cert.pem, then server-cert.pem / server-key.pem for the
 * listening end, client-cert.pem / client-key.pem for the connecting one; QEMU's
 * docs/system/tls.rst); {@code verify-peer=on} makes the destination demand the source's
 * certificate, as jkvm always does.
 */
record QemuTls(Path server, Path client) {
    /** The object id the HMP {@code migrate_set_parameter tls-creds} names. */
    static final String ID = "mtls";

    /** Lays out the directories under {@code pki}, which holds ca.pem and source/dest .pem/.key. */
    static QemuTls of(Path pki) throws IOException {
        Path server = Files.createDirectories(pki.resolve("qemu-server"));
        Path client = Files.createDirectories(pki.resolve("qemu-client"));
        for (Path d : List.of(server, client)) {
            Files.copy(pki.resolve("ca.pem"), d.resolve("ca-cert.pem"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        }
        copy(pki.resolve("dest.pem"), server.resolve("server-cert.pem"));
        copy(pki.resolve("dest.key"), server.resolve("server-key.pem"));
        copy(pki.resolve("source.pem"), client.resolve("client-cert.pem"));
        copy(pki.resolve("source.key"), client.resolve("client-key.pem"));
        return new QemuTls(server, client);
    }

    private static void copy(Path from, Path to) throws IOException {
        Files.copy(from, to, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    /**
     * Makes {@code hmp}'s QEMU migrate over these credentials; a refusal fails the sample, which
     * would otherwise be a plain-TCP migration counted as a TLS one.
     */
    static void use(QemuMonitor hmp) throws IOException {
        String said = hmp.command("migrate_set_parameter tls-creds " + ID);
        if (said.toLowerCase(java.util.Locale.ROOT).contains("error")) {
            throw new IOException("QEMU refused its TLS credentials: " + said.strip());
        }
    }

    /** The {@code -object} arguments for the destination ({@code listening}) or the source. */
    List<String> object(boolean listening) {
        return List.of("-object", "tls-creds-x509,id=" + ID + ",endpoint=" + (listening ? "server" : "client")
                + ",dir=" + (listening ? server : client) + ",verify-peer=on");
    }
}
