package io.jkvm.mmds;

import javax.crypto.Cipher;
import javax.crypto.KeyGenerator;
import javax.crypto.SecretKey;
import javax.crypto.spec.GCMParameterSpec;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.function.LongSupplier;

/**
 * MMDS V2 session tokens, stateless: a token is its own expiry time sealed with AES-256-GCM under
 * a key that never leaves this process (random IV per token, the instance id as associated
 * data). Checking one decrypts it and compares the time, so no table of tokens grows with the
 * guest's requests. Tokens of a previous process (or before {@link #rotate}) are invalid.
 */
public final class MmdsTokens {
    public static final int MIN_TTL_SECONDS = 1;
    public static final int MAX_TTL_SECONDS = 21600;
    private static final int IV = 12;
    private static final int TAG_BITS = 128;
    /** Base64 of 12 + 8 + 16 bytes is 48 characters; anything much longer is not ours. */
    static final int MAX_TOKEN_CHARS = 70;
    /** Fresh key long before random 96-bit IVs approach their collision bound (NIST SP 800-38D: 2^32). */
    private static final long TOKENS_PER_KEY = 1L << 30;

    private final SecureRandom random = new SecureRandom();
    private final LongSupplier clockMillis;
    private byte[] aad = new byte[0];
    private SecretKey key;
    private long issued;

    public MmdsTokens() {
        this(System::currentTimeMillis);
    }

    MmdsTokens(LongSupplier clockMillis) {
        this.clockMillis = clockMillis;
        rotate();
        // Load and initialize the cipher now, before the VMM confines itself (seccomp, Landlock).
        isValid(issue(MIN_TTL_SECONDS));
    }

    /** The instance id tokens are bound to. */
    public synchronized void bindTo(String instanceId) {
        aad = instanceId.getBytes(StandardCharsets.UTF_8);
    }

    synchronized void rotate() {
        try {
            KeyGenerator g = KeyGenerator.getInstance("AES");
            g.init(256, random);
            key = g.generateKey();
            issued = 0;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("no AES key generator", e);
        }
    }

    /** Whether {@code ttl} seconds is a lifetime a token may have. */
    public static boolean validTtl(long ttl) {
        return ttl >= MIN_TTL_SECONDS && ttl <= MAX_TTL_SECONDS;
    }

    /** A token valid for {@code ttlSeconds} (checked with {@link #validTtl}). */
    public synchronized String issue(int ttlSeconds) {
        if (!validTtl(ttlSeconds)) {
            throw new IllegalArgumentException("token lifetime " + ttlSeconds + " s outside " + MIN_TTL_SECONDS + ".."
                    + MAX_TTL_SECONDS);
        }
        if (++issued > TOKENS_PER_KEY) {
            rotate();
            issued = 1;
        }
        byte[] iv = new byte[IV];
        random.nextBytes(iv);
        long expiry = clockMillis.getAsLong() + ttlSeconds * 1000L;
        try {
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
            c.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, iv));
            c.updateAAD(aad);
            byte[] sealed = c.doFinal(ByteBuffer.allocate(8).putLong(expiry).array());
            return Base64.getEncoder().encodeToString(ByteBuffer.allocate(IV + sealed.length).put(iv).put(sealed).array());
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("cannot seal a token", e);
        }
    }

    /** Whether {@code token} was issued here and has not expired. */
    public synchronized boolean isValid(String token) {
        if (token == null || token.isEmpty() || token.length() > MAX_TOKEN_CHARS) {
            return false;
        }
        byte[] raw;
        try {
            raw = Base64.getDecoder().decode(token);
        } catch (IllegalArgumentException e) {
            return false;
        }
        if (raw.length != IV + 8 + TAG_BITS / 8) {
            return false;
        }
        try {
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
            c.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(TAG_BITS, raw, 0, IV));
            c.updateAAD(aad);
            byte[] plain = c.doFinal(raw, IV, raw.length - IV);
            return ByteBuffer.wrap(plain).getLong() > clockMillis.getAsLong();
        } catch (GeneralSecurityException e) {
            return false;
        }
    }
}
