package io.jkvm.migration;

import org.junit.jupiter.api.Assumptions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Certificates made at test time with openssl (nothing checked in): a CA, two nodes it signs
 * (names localhost and 127.0.0.1, usable as TLS server and client), and a rogue CA with a node
 * of its own that the first CA's peers must refuse.
 */
public final class TestPki {
    public final MigrationTls source;
    public final MigrationTls destination;
    public final MigrationTls rogue;
    public final Path dir;

    private TestPki(Path dir) {
        this.dir = dir;
        this.source = new MigrationTls(dir.resolve("source.pem"), dir.resolve("source.key"), dir.resolve("ca.pem"));
        this.destination = new MigrationTls(dir.resolve("dest.pem"), dir.resolve("dest.key"), dir.resolve("ca.pem"));
        // The rogue node trusts the real CA, so only its own certificate is wrong.
        this.rogue = new MigrationTls(dir.resolve("rogue.pem"), dir.resolve("rogue.key"), dir.resolve("ca.pem"));
    }

    public static TestPki create(Path dir) throws IOException, InterruptedException {
        return create(dir, new String[0]);
    }

    /** As above, the nodes also named by {@code moreIps} (hosts in a test's network namespaces). */
    public static TestPki create(Path dir, String... moreIps) throws IOException, InterruptedException {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/openssl")), "openssl is not installed");
        StringBuilder names = new StringBuilder("DNS:localhost,IP:127.0.0.1");
        for (String ip : moreIps) {
            names.append(",IP:").append(ip);
        }
        Files.writeString(dir.resolve("ext.cnf"), "subjectAltName=" + names + "\n" + """
                extendedKeyUsage=serverAuth,clientAuth
                basicConstraints=CA:FALSE
                """);
        ca(dir, "ca");
        ca(dir, "rogueca");
        node(dir, "source", "ca");
        node(dir, "dest", "ca");
        node(dir, "rogue", "rogueca");
        return new TestPki(dir);
    }

    /** {@code jkvm run}/{@code migrate} flags presenting {@code node}'s certificate (source, dest, rogue) and trusting the CA. */
    public static String flags(Path dir, String node) {
        return "--tls-cert " + dir.resolve(node + ".pem") + " --tls-key " + dir.resolve(node + ".key") + " --tls-ca "
                + dir.resolve("ca.pem");
    }

    private static void ca(Path dir, String name) throws IOException, InterruptedException {
        key(dir, name);
        openssl(dir, "req", "-x509", "-new", "-key", name + ".key", "-out", name + ".pem", "-days", "2",
                "-subj", "/CN=jkvm test " + name, "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign");
    }

    /** One more node in {@code dir}, signed by its CA, with an RSA key (2048 bits) instead of P-256. */
    public static MigrationTls rsaNode(Path dir, String name) throws IOException, InterruptedException {
        openssl(dir, "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", name + ".key");
        sign(dir, name, "ca");
        return new MigrationTls(dir.resolve(name + ".pem"), dir.resolve(name + ".key"), dir.resolve("ca.pem"));
    }

    private static void node(Path dir, String name, String ca) throws IOException, InterruptedException {
        key(dir, name);
        sign(dir, name, ca);
    }

    private static void sign(Path dir, String name, String ca) throws IOException, InterruptedException {
        openssl(dir, "req", "-new", "-key", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name);
        openssl(dir, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "2", "-extfile", "ext.cnf");
    }

    private static void key(Path dir, String name) throws IOException, InterruptedException {
        // genpkey writes PKCS#8 ("BEGIN PRIVATE KEY"), the format --tls-key takes.
        openssl(dir, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name + ".key");
    }

    private static void openssl(Path dir, String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of("openssl"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(30, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException("openssl " + String.join(" ", args) + " failed: " + out);
        }
    }
}
