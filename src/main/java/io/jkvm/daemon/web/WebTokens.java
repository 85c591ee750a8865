package io.jkvm.daemon.web;

import io.jkvm.daemon.VmName;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.Optional;

/**
 * The web console's login tokens. The daemon draws a fresh 256-bit secret at each start: the
 * admin token is that secret (base64url), and sees every VM. A VM's token is
 * {@code NAME~HMAC-SHA256(secret, "jkvm web console vm\0" NAME)}: anyone holding it can derive no
 * other VM's token, and the daemon checks it without storing it. A restart of the daemon revokes
 * every token, admin and per-VM alike.
 *
 * <p>Comparisons are constant-time ({@link MessageDigest#isEqual}), so a client timing refusals
 * learns nothing about how much of a guess was right.
 */
public final class WebTokens {
    /** Bytes of the secret: 256 bits, twice the 128 a guesser would have to face at least. */
    static final int SECRET_BYTES = 32;
    private static final Base64.Encoder B64 = Base64.getUrlEncoder().withoutPadding();
    private static final Base64.Decoder B64D = Base64.getUrlDecoder();
    private static final byte[] VM_LABEL = "jkvm web console vm\0".getBytes(StandardCharsets.US_ASCII);
    /** Longest token looked at: a VM name (40) + '~' + 43 characters of HMAC, with room to spare. */
    static final int MAX_TOKEN_CHARS = 128;

    private final byte[] secret;

    WebTokens(byte[] secret) {
        if (secret.length != SECRET_BYTES) {
            throw new IllegalArgumentException("secret: " + secret.length + " bytes, not " + SECRET_BYTES);
        }
        this.secret = secret.clone();
    }

    /** A new random secret. */
    public static WebTokens generate() {
        byte[] s = new byte[SECRET_BYTES];
        new SecureRandom().nextBytes(s);
        return new WebTokens(s);
    }

    /** Parses an admin token (as {@link #adminToken()} printed it). */
    public static WebTokens fromAdminToken(String token) {
        byte[] s;
        try {
            s = B64D.decode(token.strip());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("not a web console admin token");
        }
        if (s.length != SECRET_BYTES) {
            throw new IllegalArgumentException("not a web console admin token");
        }
        return new WebTokens(s);
    }

    public String adminToken() {
        return B64.encodeToString(secret);
    }

    /** The token that opens VM {@code name}'s page and sockets, and nothing else. */
    public String vmToken(String name) {
        VmName.require(name);
        return name + "~" + B64.encodeToString(mac(name));
    }

    /** What {@code token} may see, or empty when it is not one of this daemon's tokens. */
    public Optional<Scope> check(String token) {
        if (token == null || token.isEmpty() || token.length() > MAX_TOKEN_CHARS) {
            return Optional.empty();
        }
        int tilde = token.indexOf('~');
        if (tilde < 0) {
            return MessageDigest.isEqual(token.getBytes(StandardCharsets.US_ASCII),
                    adminToken().getBytes(StandardCharsets.US_ASCII)) ? Optional.of(Scope.ADMIN) : Optional.empty();
        }
        String name = token.substring(0, tilde);
        try {
            VmName.require(name);
        } catch (RuntimeException e) {
            return Optional.empty();
        }
        byte[] expected = B64.encodeToString(mac(name)).getBytes(StandardCharsets.US_ASCII);
        byte[] given = token.substring(tilde + 1).getBytes(StandardCharsets.US_ASCII);
        return MessageDigest.isEqual(given, expected) ? Optional.of(Scope.of(name)) : Optional.empty();
    }

    private byte[] mac(String name) {
        try {
            Mac m = Mac.getInstance("HmacSHA256");
            m.init(new SecretKeySpec(secret, "HmacSHA256"));
            m.update(VM_LABEL);
            return m.doFinal(name.getBytes(StandardCharsets.US_ASCII));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is missing from this JDK", e);
        }
    }

    /**
     * Writes {@code content} to {@code file} readable by the owner only: created 0600 before any
     * byte is written (no window in which another user could open it), then renamed into place.
     */
    static void writePrivate(Path file, String content) throws IOException {
        Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
        Files.deleteIfExists(tmp);
        Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        Files.writeString(tmp, content, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING);
        Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
    }
}
