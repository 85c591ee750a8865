package io.jkvm.snapshot;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;

import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * The state-file container (all integers big-endian):
 *
 * <pre>
 * offset  size  field
 * 0       8     magic "JKVMSNAP"
 * 8       4     format version (1)
 * 12      4     protection: 1 = HMAC-SHA256, 2 = AES-256-GCM + HMAC-SHA256
 * 16      8     key id (8 public bytes derived from the key: "wrong key" vs "modified")
 * 24      4     header length H (at most 1 MiB)
 * 28      H     header, JSON ({@link SnapshotHeader})
 * 28+H    8     payload length P
 * 36+H    P     payload: the sections, back to back (AES-GCM ciphertext + tag when encrypted,
 *               nonce in the header, AAD = bytes [0, 36+H))
 * 36+H+P  32    HMAC-SHA256 over bytes [0, 36+H+P)
 * </pre>
 *
 * Reading checks, in order and before anything is parsed or allocated from the content: minimum
 * size, magic, version, protection, key id, that the framing lengths add up to the file size,
 * then the MAC. Only then is the header parsed and the payload decrypted.
 */
final class SnapshotFile {
    private SnapshotFile() {}

    static final byte[] MAGIC = "JKVMSNAP".getBytes(StandardCharsets.US_ASCII);
    static final int VERSION = 1;
    static final int PREFIX = 28;
    static final int MAC_BYTES = 32;
    static final int MIN_SIZE = PREFIX + 8 + MAC_BYTES;
    static final int MAX_HEADER = 1 << 20;
    /** Largest state file accepted (device state is bounded too; guest RAM is in the memory file). */
    static final long MAX_SIZE = 256L << 20;
    static final int GCM_TAG_BITS = 128;

    static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES, true)
            .configure(DeserializationFeature.FAIL_ON_TRAILING_TOKENS, true);

    record Parsed(SnapshotHeader header, Protection protection, byte[] payload) {}

    static byte[] write(SnapshotHeader header, Protection protection, byte[] payload, SnapshotKey key) {
        try {
            byte[] h = JSON.writeValueAsBytes(header);
            ByteArrayOutputStream bos = new ByteArrayOutputStream(PREFIX + h.length + payload.length + 64);
            DataOutputStream out = new DataOutputStream(bos);
            out.write(MAGIC);
            out.writeInt(VERSION);
            out.writeInt(protection.code);
            out.write(key.id());
            out.writeInt(h.length);
            out.write(h);
            byte[] body = payload;
            if (protection == Protection.AES_256_GCM) {
                long plen = payload.length + GCM_TAG_BITS / 8;
                out.writeLong(plen);
                out.flush();
                body = gcm(Cipher.ENCRYPT_MODE, key, HexFormat.of().parseHex(header.payloadNonce()), bos.toByteArray(), payload);
            } else {
                out.writeLong(payload.length);
            }
            out.write(body);
            out.flush();
            byte[] content = bos.toByteArray();
            out.write(key.newMac().doFinal(content));
            out.flush();
            return bos.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Parsed read(Path file, byte[] c, SnapshotKey key) {
        if (c.length < MIN_SIZE) {
            throw new SnapshotException(file, "truncated state file (" + c.length + " bytes; the fixed framing alone is " + MIN_SIZE + ")");
        }
        if (!Arrays.equals(c, 0, 8, MAGIC, 0, 8)) {
            throw new SnapshotException(file, "not a jkvm snapshot state file (bad magic)");
        }
        ByteBuffer b = ByteBuffer.wrap(c);
        int version = b.getInt(8);
        if (version != VERSION) {
            throw new SnapshotException(file, "snapshot format version " + Integer.toUnsignedString(version)
                    + "; this jkvm reads version " + VERSION);
        }
        Protection protection = Protection.ofCode(b.getInt(12));
        if (protection == null) {
            throw new SnapshotException(file, "unknown protection scheme " + b.getInt(12));
        }
        if (!Arrays.equals(c, 16, 24, key.id(), 0, 8)) {
            throw new SnapshotException(file, "written with a different key (key id "
                    + HexFormat.of().formatHex(c, 16, 24) + ", the key given has id " + key.idHex() + ")");
        }
        long h = b.getInt(24) & 0xffffffffL;
        if (h > MAX_HEADER || PREFIX + h + 8 + MAC_BYTES > c.length) {
            throw new SnapshotException(file, "truncated or corrupt: header length " + h + " does not fit in the "
                    + c.length + "-byte file");
        }
        long p = b.getLong(PREFIX + (int) h);
        long expected = PREFIX + h + 8 + MAC_BYTES + p;
        if (p < 0 || expected != c.length) {
            throw new SnapshotException(file, (p >= 0 && expected > c.length ? "truncated" : "corrupt or extended")
                    + ": framing says " + (p < 0 ? "a negative payload" : expected + " bytes") + ", the file has " + c.length);
        }
        int macAt = c.length - MAC_BYTES;
        var mac = key.newMac();
        mac.update(c, 0, macAt);
        if (!SnapshotKey.sameMac(mac.doFinal(), Arrays.copyOfRange(c, macAt, c.length))) {
            throw new SnapshotException(file, "modified or corrupted (MAC mismatch)");
        }
        // Authenticated from here on; parsing stays bounded anyway (a key holder could be hostile).
        SnapshotHeader header;
        try {
            header = JSON.readValue(c, PREFIX, (int) h, SnapshotHeader.class);
        } catch (IOException | RuntimeException e) {
            throw new SnapshotException(file, "header is not valid: " + e.getMessage(), e);
        }
        if (header == null || header.config() == null || header.memory() == null || header.sections() == null
                || header.snapshotId() == null || header.memory().mac() == null || header.memory().regions() == null) {
            throw new SnapshotException(file, "header is incomplete");
        }
        int payloadAt = PREFIX + (int) h + 8;
        byte[] payload;
        if (protection == Protection.AES_256_GCM) {
            byte[] nonce = hex(file, header.payloadNonce(), 12, "payload nonce");
            try {
                payload = gcm(Cipher.DECRYPT_MODE, key, nonce, Arrays.copyOfRange(c, 0, payloadAt),
                        Arrays.copyOfRange(c, payloadAt, macAt));
            } catch (UncheckedIOException e) {
                throw new SnapshotException(file, "payload decryption failed (modified, or wrong key)", e);
            }
        } else {
            payload = Arrays.copyOfRange(c, payloadAt, macAt);
        }
        return new Parsed(header, protection, payload);
    }

    static byte[] hex(Path file, String s, int len, String what) {
        if (s == null || s.length() != 2 * len) {
            throw new SnapshotException(file, what + " must be " + len + " bytes of hex");
        }
        try {
            return HexFormat.of().parseHex(s);
        } catch (IllegalArgumentException e) {
            throw new SnapshotException(file, what + " is not hex");
        }
    }

    static byte[] gcm(int mode, SnapshotKey key, byte[] nonce, byte[] aad, byte[] data) {
        try {
            Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
            c.init(mode, new SecretKeySpec(key.encKey(), "AES"), new GCMParameterSpec(GCM_TAG_BITS, nonce));
            c.updateAAD(aad);
            return c.doFinal(data);
        } catch (javax.crypto.AEADBadTagException e) {
            throw new UncheckedIOException(new IOException("GCM tag mismatch", e));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("AES/GCM unavailable", e);
        }
    }
}
