package io.jkvm.snapshot;

import io.jkvm.kvm.LibCrypto;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * The secret that authenticates (and optionally encrypts) snapshots. The user's key material
 * (at least 32 bytes) is never used directly: separate keys for the MAC and the cipher, and a
 * public key id that lets restore say "wrong key" instead of "corrupted", are derived from it with
 * HMAC-SHA256 and fixed labels.
 */
public final class SnapshotKey {
    public static final int MIN_BYTES = 32;
    static final int MAX_BYTES = 4096;
    /** Name of the generated key file under a state directory. */
    public static final String DEFAULT_FILE = "snapshot.key";

    private final byte[] macKey;
    private final byte[] encKey;
    private final byte[] id;

    private SnapshotKey(byte[] material) {
        this.macKey = derive(material, "jkvm-snapshot-v1 mac");
        this.encKey = derive(material, "jkvm-snapshot-v1 enc");
        this.id = Arrays.copyOf(derive(material, "jkvm-snapshot-v1 key id"), 8);
    }

    /** Key material held in memory (tests, or a key handed over by a daemon). */
    public static SnapshotKey of(byte[] material) {
        if (material.length < MIN_BYTES || material.length > MAX_BYTES) {
            throw new IllegalArgumentException("snapshot key must be " + MIN_BYTES + ".." + MAX_BYTES
                    + " bytes, got " + material.length);
        }
        return new SnapshotKey(material);
    }

    /**
     * Reads a key file the user gave (at least 32 bytes; its whole content is the key). Like ssh
     * with private keys, a key file other users can read is refused.
     */
    public static SnapshotKey fromFile(Path file) throws IOException {
        var perms = Files.getPosixFilePermissions(file);
        if (perms.contains(java.nio.file.attribute.PosixFilePermission.OTHERS_READ)
                || perms.contains(java.nio.file.attribute.PosixFilePermission.GROUP_READ)) {
            throw new SnapshotException(file, "key file is readable by other users (mode "
                    + PosixFilePermissions.toString(perms) + "); make it private: chmod 600 " + file);
        }
        long size = Files.size(file);
        if (size < MIN_BYTES || size > MAX_BYTES) {
            throw new SnapshotException(file, "key file is " + size + " bytes; it must hold "
                    + MIN_BYTES + ".." + MAX_BYTES + " bytes of secret (e.g. head -c 32 /dev/urandom > key)");
        }
        return new SnapshotKey(Files.readAllBytes(file));
    }

    /**
     * The key stored at {@code stateDir/snapshot.key}, generated (32 random bytes, mode 0600,
     * created atomically so it is never readable by others) when absent.
     */
    public static SnapshotKey loadOrGenerate(Path stateDir) throws IOException {
        Path file = stateDir.resolve(DEFAULT_FILE);
        if (!Files.exists(file)) {
            Files.createDirectories(stateDir);
            byte[] k = new byte[MIN_BYTES];
            new SecureRandom().nextBytes(k);
            Path tmp = Files.createTempFile(stateDir, ".snapshot-key", ".tmp",
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            try {
                Files.write(tmp, k);
                Files.move(tmp, file); // not REPLACE_EXISTING: a concurrent generator wins, we read its key
            } catch (FileAlreadyExistsException e) {
                // someone else generated it first
            } finally {
                Files.deleteIfExists(tmp);
            }
        }
        return fromFile(file);
    }

    byte[] macKey() {
        return macKey;
    }

    byte[] encKey() {
        return encKey;
    }

    /** 8 public bytes identifying the key (a one-way function of it). */
    byte[] id() {
        return id.clone();
    }

    public String idHex() {
        return HexFormat.of().formatHex(id);
    }

    Mac newMac() {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(macKey, "HmacSHA256"));
            return mac;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 unavailable", e);
        }
    }

    /** The same MAC as {@link #newMac()}, fast for guest-RAM-sized data. */
    BulkMac newBulkMac() {
        return BulkMac.create(macKey, LibCrypto.available() ? null : newMac());
    }

    static boolean sameMac(byte[] a, byte[] b) {
        return MessageDigest.isEqual(a, b);
    }

    private static byte[] derive(byte[] material, String label) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(material, "HmacSHA256"));
            return mac.doFinal(label.getBytes(StandardCharsets.UTF_8));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 unavailable", e);
        }
    }
}
