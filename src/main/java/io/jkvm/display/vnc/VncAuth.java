package io.jkvm.display.vnc;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Arrays;
import javax.crypto.Cipher;
import javax.crypto.spec.SecretKeySpec;

/**
 * VNC Authentication (RFC 6143 section 7.2.2): the server sends a random 16-byte challenge, the
 * client returns it DES-encrypted (ECB, two blocks) under a key made from the password.
 *
 * <p>The key is the password's first 8 bytes, zero-padded, with the bits of every byte reversed:
 * the original implementation fed the bytes to a DES routine that numbered key bits from the
 * least significant end, and every client since has reproduced that (RFC 6143's text does not
 * say so). Passwords longer than 8 bytes are cut to 8. This scheme is weak
 * (DES, 8 characters at most, no protection of the session): it only keeps out casual
 * connections, which is why the server also offers a Unix socket.
 */
public final class VncAuth {
    public static final int CHALLENGE_BYTES = 16;

    private VncAuth() {}

    /** The DES key for {@code password}: UTF-8 bytes, first 8, zero-padded, each byte bit-reversed. */
    static byte[] key(String password) {
        return key(password.getBytes(StandardCharsets.UTF_8));
    }

    /** The DES key for a password given as bytes. */
    static byte[] key(byte[] password) {
        byte[] key = Arrays.copyOf(password, 8);
        for (int i = 0; i < 8; i++) {
            key[i] = (byte) (Integer.reverse(key[i] & 0xff) >>> 24);
        }
        return key;
    }

    /** What a client holding {@code key} answers to {@code challenge}: DES-ECB of each 8-byte block. */
    static byte[] response(byte[] key, byte[] challenge) {
        try {
            Cipher des = Cipher.getInstance("DES/ECB/NoPadding");
            des.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, "DES"));
            return des.doFinal(challenge);
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("DES is part of every Java runtime", e);
        }
    }

    /** True if {@code answer} is the right response to {@code challenge} under {@code key} (constant time). */
    static boolean check(byte[] key, byte[] challenge, byte[] answer) {
        return MessageDigest.isEqual(response(key, challenge), answer);
    }
}
