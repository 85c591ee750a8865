package io.jkvm.snapshot;

import io.jkvm.memory.GuestMemory;
import io.jkvm.memory.GuestRam;

import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.GeneralSecurityException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * The memory file: guest RAM, region after region. In clear ({@link Protection#HMAC_SHA256}) it
 * is exactly the RAM bytes; encrypted, it is AES-GCM chunks (see {@link SnapshotHeader.Memory}).
 * Either way its length and HMAC-SHA256 go into the state file's authenticated header, which
 * authenticates this file and binds it to that state file; a clear file's per-chunk MACs go
 * there too. Restore reads it chunk by chunk on first touch ({@link MemoryChunks}) or, where it
 * cannot, verifies it whole and maps it MAP_PRIVATE (clear) or decrypts it (encrypted).
 */
final class MemoryFile {
    private MemoryFile() {}

    static final int CHUNK = 1 << 20;
    static final int TAG = 16;
    /** Bytes of a chunk MAC kept in the table: HMAC-SHA256 truncated to 128 bits (RFC 2104 section 5). */
    static final int CHUNK_MAC = 16;
    /**
     * Largest chunk MAC table written (32 GiB of RAM, ~700 KB of base64): the state header has
     * a 1 MiB limit. Bigger guests restore by reading the whole file first.
     */
    static final int MAX_TABLE_CHUNKS = 32768;

    /** Streams guest RAM to {@code out} (already created, empty); returns the header's memory record. */
    static SnapshotHeader.Memory write(FileChannel out, GuestMemory mem, SnapshotKey key, Protection p,
            byte[] snapshotId, byte[] nonceBase) throws IOException {
        BulkMac mac = key.newBulkMac();
        List<SnapshotHeader.Region> regions = new ArrayList<>();
        long plainOffset = 0;
        long fileLength = 0;
        long chunkIndex = 0;
        ByteBuffer cipherOut = p == Protection.AES_256_GCM ? ByteBuffer.allocateDirect(CHUNK + TAG) : null;
        ChunkTable table = cipherOut == null ? ChunkTable.forRam(mem) : null;
        for (GuestMemory.Region r : mem.regions()) {
            regions.add(new SnapshotHeader.Region(r.guestAddress(), r.size(), plainOffset));
            plainOffset += r.size();
            for (long off = 0; off < r.size(); off += CHUNK) {
                long len = Math.min(CHUNK, r.size() - off);
                ByteBuffer plain = r.host().asSlice(off, len).asByteBuffer();
                ByteBuffer data = plain;
                if (table != null) {
                    table.add(key, plain.duplicate());
                }
                if (cipherOut != null) {
                    cipherOut.clear();
                    boolean last = off + len == r.size() && r == mem.regions().getLast();
                    try {
                        chunkCipher(Cipher.ENCRYPT_MODE, key, nonceBase, snapshotId, chunkIndex++, last).doFinal(plain, cipherOut);
                    } catch (GeneralSecurityException e) {
                        throw new IllegalStateException("AES/GCM encryption failed", e);
                    }
                    cipherOut.flip();
                    data = cipherOut;
                }
                mac.update(data.duplicate());
                fileLength += data.remaining();
                while (data.hasRemaining()) {
                    out.write(data);
                }
            }
        }
        return new SnapshotHeader.Memory(fileLength, HexFormat.of().formatHex(mac.doFinal()), regions,
                cipherOut != null ? CHUNK : null, cipherOut != null ? HexFormat.of().formatHex(nonceBase) : null,
                table != null ? table.encoded() : null);
    }

    /**
     * The memory record a clear Full memory file of {@code mem} would have (length, regions, HMAC
     * of all RAM), computed without writing one: a Diff's header carries it so the diff merged
     * onto its base authenticates exactly like a Full memory file. The machine must be paused.
     */
    static SnapshotHeader.Memory ramRecord(GuestMemory mem, SnapshotKey key) {
        BulkMac mac = key.newBulkMac();
        ChunkTable table = ChunkTable.forRam(mem);
        List<SnapshotHeader.Region> regions = new ArrayList<>();
        long offset = 0;
        for (GuestMemory.Region r : mem.regions()) {
            regions.add(new SnapshotHeader.Region(r.guestAddress(), r.size(), offset));
            offset += r.size();
            for (long off = 0; off < r.size(); off += CHUNK) {
                ByteBuffer chunk = r.host().asSlice(off, Math.min(CHUNK, r.size() - off)).asByteBuffer();
                if (table != null) {
                    table.add(key, chunk.duplicate());
                }
                mac.update(chunk);
            }
        }
        return new SnapshotHeader.Memory(offset, HexFormat.of().formatHex(mac.doFinal()), regions, null, null,
                table != null ? table.encoded() : null);
    }

    static final String FULL_MISMATCH = "(modified, or from another snapshot: MAC mismatch)";
    static final String DIFF_MISMATCH = "(this is a Diff snapshot: its memory file is the diff merged onto the base"
            + " memory file with `jkvm snapshot merge`; not merged, or merged onto the wrong base? MAC mismatch)";

    /** Checks length, region layout and MAC of {@code file} against the authenticated header. */
    static void verify(Path file, Path stateFile, SnapshotHeader.Memory m, MachineConfig config, Protection p,
            SnapshotKey key) throws IOException {
        verify(file, stateFile, m, config, p, key, FULL_MISMATCH);
    }

    /** As {@link #verify}, with {@code why} (one of the *_MISMATCH texts) explaining a MAC mismatch. */
    static void verify(Path file, Path stateFile, SnapshotHeader.Memory m, MachineConfig config, Protection p,
            SnapshotKey key, String why) throws IOException {
        checkLayout(file, m, config, p);
        if (p == Protection.HMAC_SHA256) {
            // The file stays mapped while the guest runs: others able to change it could change guest RAM.
            var perms = java.nio.file.Files.getPosixFilePermissions(file);
            if (perms.contains(java.nio.file.attribute.PosixFilePermission.GROUP_WRITE)
                    || perms.contains(java.nio.file.attribute.PosixFilePermission.OTHERS_WRITE)) {
                throw new SnapshotException(file, "memory file is writable by other users (mode "
                        + java.nio.file.attribute.PosixFilePermissions.toString(perms)
                        + "); it is mapped into the guest, so make it private: chmod 600 " + file);
            }
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            checkLength(file, stateFile, m, size);
            BulkMac mac = key.newBulkMac();
            ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
            long total = 0;
            while (total < size) {
                buf.clear();
                int n = ch.read(buf, total);
                if (n < 0) {
                    throw new SnapshotException(file, "memory file shrank while being verified");
                }
                buf.flip();
                mac.update(buf);
                total += n;
            }
            byte[] want = SnapshotFile.hex(stateFile, m.mac(), 32, "memory MAC");
            if (!SnapshotKey.sameMac(mac.doFinal(), want)) {
                throw new SnapshotException(file, "memory file does not match state file " + stateFile.getFileName()
                        + " " + why);
            }
        }
    }

    /** Refuses a memory file of {@code size} bytes when the header says another length. */
    static void checkLength(Path file, Path stateFile, SnapshotHeader.Memory m, long size) {
        if (size != m.length()) {
            throw new SnapshotException(file, "memory file is " + size + " bytes, state file " + stateFile.getFileName()
                    + " expects " + m.length() + (size < m.length() ? " (truncated)" : " (extended or wrong file)"));
        }
    }

    static void checkLayout(Path file, SnapshotHeader.Memory m, MachineConfig config, Protection p) {
        List<long[]> want = GuestRam.layout(config.memoryBytes());
        List<SnapshotHeader.Region> got = m.regions();
        boolean ok = got.size() == want.size();
        long offset = 0;
        for (int i = 0; ok && i < want.size(); i++) {
            SnapshotHeader.Region r = got.get(i);
            ok = r.gpa() == want.get(i)[0] && r.size() == want.get(i)[1] && r.fileOffset() == offset;
            offset += want.get(i)[1];
        }
        if (!ok) {
            throw new SnapshotException(file, "the state header's memory layout does not match " + config.memoryBytes()
                    + " bytes of guest RAM");
        }
        if (p == Protection.AES_256_GCM && (m.chunkSize() == null || m.chunkSize() != CHUNK || m.nonceBase() == null)) {
            throw new SnapshotException(file, "encrypted memory file without a supported chunk layout");
        }
    }

    /** Guest RAM mapped MAP_PRIVATE from the (verified) clear memory file. */
    static GuestRam map(Path file, MachineConfig config) {
        return GuestRam.mapPrivate(file, config.memoryBytes());
    }

    /**
     * Guest RAM in anonymous memory, decrypted from the memory file. Every chunk's GCM tag is
     * checked as it is decrypted, so a file changed after {@link #verify} is still refused.
     */
    static GuestRam decrypt(Path file, SnapshotHeader.Memory m, MachineConfig config, SnapshotKey key,
            byte[] snapshotId) throws IOException {
        byte[] nonceBase = SnapshotFile.hex(file, m.nonceBase(), 12, "memory nonce");
        GuestRam ram = GuestRam.allocate(config.memoryBytes(), io.jkvm.memory.RamBacking.PAGES);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer in = ByteBuffer.allocateDirect(CHUNK + TAG);
            long pos = 0;
            long chunkIndex = 0;
            List<GuestMemory.Region> regions = ram.memory().regions();
            for (GuestMemory.Region r : regions) {
                for (long off = 0; off < r.size(); off += CHUNK) {
                    int len = (int) Math.min(CHUNK, r.size() - off);
                    in.clear().limit(len + TAG);
                    while (in.hasRemaining()) {
                        if (ch.read(in, pos + in.position()) < 0) {
                            throw new SnapshotException(file, "memory file truncated while decrypting");
                        }
                    }
                    in.flip();
                    pos += len + TAG;
                    MemorySegment dst = r.host().asSlice(off, len);
                    boolean last = off + len == r.size() && r == regions.getLast();
                    try {
                        chunkCipher(Cipher.DECRYPT_MODE, key, nonceBase, snapshotId, chunkIndex++, last)
                                .doFinal(in, dst.asByteBuffer());
                    } catch (javax.crypto.AEADBadTagException e) {
                        throw new SnapshotException(file, "memory chunk " + (chunkIndex - 1)
                                + " failed authentication (modified, or from another snapshot)");
                    }
                }
            }
        } catch (GeneralSecurityException e) {
            ram.close();
            throw new IllegalStateException("AES/GCM unavailable", e);
        } catch (IOException | RuntimeException e) {
            ram.close();
            throw e;
        }
        return ram;
    }

    /** The chunk MAC table of a clear memory file being written (see {@link SnapshotHeader.Memory}). */
    private static final class ChunkTable {
        private final byte[] macs;
        private int count;

        private ChunkTable(int chunks) {
            macs = new byte[chunks * CHUNK_MAC];
        }

        /** A table for {@code mem}, or null when it has more chunks than a header holds. */
        static ChunkTable forRam(GuestMemory mem) {
            long chunks = 0;
            for (GuestMemory.Region r : mem.regions()) {
                chunks += (r.size() + CHUNK - 1) / CHUNK;
            }
            return chunks <= MAX_TABLE_CHUNKS ? new ChunkTable((int) chunks) : null;
        }

        void add(SnapshotKey key, ByteBuffer chunk) {
            System.arraycopy(chunkMac(key, chunk), 0, macs, count++ * CHUNK_MAC, CHUNK_MAC);
        }

        String encoded() {
            return java.util.Base64.getEncoder().encodeToString(macs);
        }
    }

    /** The full HMAC-SHA256 of one chunk of RAM; the table keeps its first {@link #CHUNK_MAC} bytes. */
    static byte[] chunkMac(SnapshotKey key, ByteBuffer chunk) {
        BulkMac m = key.newBulkMac();
        m.update(chunk);
        return m.doFinal();
    }

    static Cipher chunkCipher(int mode, SnapshotKey key, byte[] nonceBase, byte[] snapshotId, long index,
            boolean last) throws GeneralSecurityException {
        byte[] nonce = nonceBase.clone();
        for (int i = 0; i < 8; i++) {
            nonce[4 + i] ^= (byte) (index >>> (56 - 8 * i));
        }
        Cipher c = Cipher.getInstance("AES/GCM/NoPadding");
        c.init(mode, new SecretKeySpec(key.encKey(), "AES"), new GCMParameterSpec(SnapshotFile.GCM_TAG_BITS, nonce));
        ByteBuffer aad = ByteBuffer.allocate(snapshotId.length + 9).put(snapshotId).putLong(index).put((byte) (last ? 1 : 0));
        c.updateAAD(aad.array());
        return c;
    }
}
