package io.jkvm.migration;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** PEM certificates (X.509, RFC 7468) and unencrypted PKCS#8 private keys, read with the JDK alone. */
final class PemFiles {
    private PemFiles() {}

    private static final Pattern KEY = Pattern.compile(
            "-----BEGIN PRIVATE KEY-----([A-Za-z0-9+/=\\s]+)-----END PRIVATE KEY-----");

    static List<X509Certificate> certificates(String option, Path file) {
        try {
            byte[] pem = Files.readAllBytes(file);
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            List<X509Certificate> out = new ArrayList<>();
            for (var c : cf.generateCertificates(new ByteArrayInputStream(pem))) {
                out.add((X509Certificate) c);
            }
            if (out.isEmpty()) {
                throw new MigrationException(option + ": " + file + " holds no PEM certificate");
            }
            return out;
        } catch (IOException e) {
            throw new MigrationException(option + ": cannot read " + file + ": " + e.getMessage());
        } catch (GeneralSecurityException e) {
            throw new MigrationException(option + ": " + file + " is not a PEM X.509 certificate: " + e.getMessage());
        }
    }

    /** An unencrypted PKCS#8 key ("BEGIN PRIVATE KEY"); EC, RSA and Ed25519 are tried in turn. */
    static PrivateKey privateKey(String option, Path file) {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new MigrationException(option + ": cannot read " + file + ": " + e.getMessage());
        }
        Matcher m = KEY.matcher(text);
        if (!m.find()) {
            throw new MigrationException(option + ": " + file
                    + " holds no unencrypted PKCS#8 key (-----BEGIN PRIVATE KEY-----; convert with openssl pkcs8 -topk8 -nocrypt)");
        }
        byte[] der;
        try {
            der = Base64.getMimeDecoder().decode(m.group(1));
        } catch (IllegalArgumentException e) {
            throw new MigrationException(option + ": " + file + ": bad base64 in the key");
        }
        for (String alg : new String[] {"EC", "RSA", "Ed25519"}) {
            try {
                return KeyFactory.getInstance(alg).generatePrivate(new PKCS8EncodedKeySpec(der));
            } catch (GeneralSecurityException e) {
                // not this algorithm: try the next
            }
        }
        throw new MigrationException(option + ": " + file + " is not an EC, RSA or Ed25519 PKCS#8 key");
    }
}
