package io.jkvm.snapshot;

import io.jkvm.memory.LazyFill;

import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.GeneralSecurityException;
import java.util.Base64;
import java.util.List;

/**
 * A memory file read chunk by chunk for a lazy restore ({@link LazyFill}), each chunk checked as
 * it is read: a clear file against the chunk MAC table of the authenticated state header, an
 * encrypted one by its own GCM tag (whose nonce and associated data bind it to its index and to
 * the snapshot). The file's length and layout are checked before the first read
 * ({@link #open}); a chunk changed at any time after that is refused when it is read.
 */
final class MemoryChunks implements LazyFill.ChunkSource {
    private final Path file;
    private final FileChannel channel;
    private final Protection protection;
    private final SnapshotKey key;
    private final byte[] snapshotId;
    private final byte[] nonceBase;
    private final byte[] table;
    private final long[] fileOffset;
    private final long[] length;
    private final ByteBuffer sealed;
    /** Said after a refusal: what a Diff's memory file must be. */
    private final String hint;

    private MemoryChunks(Path file, FileChannel channel, Protection protection, SnapshotKey key, byte[] snapshotId,
            byte[] nonceBase, byte[] table, long[] fileOffset, long[] length, String hint) {
        this.hint = hint;
        this.file = file;
        this.channel = channel;
        this.protection = protection;
        this.key = key;
        this.snapshotId = snapshotId;
        this.nonceBase = nonceBase;
        this.table = table;
        this.fileOffset = fileOffset;
        this.length = length;
        this.sealed = protection == Protection.AES_256_GCM ? ByteBuffer.allocateDirect(MemoryFile.CHUNK + MemoryFile.TAG) : null;
    }

    /** True when {@code m} can be read this way: encrypted, or clear with a chunk MAC table. */
    static boolean lazyCapable(SnapshotHeader.Memory m, Protection p) {
        return p == Protection.AES_256_GCM || m.chunkMacs() != null;
    }

    /**
     * Opens {@code file} after checking its layout against the configuration and its length
     * against the authenticated header (the cheap checks of {@link MemoryFile#verify}; the MAC
     * is checked per chunk instead).
     */
    static MemoryChunks open(Path file, Path stateFile, SnapshotHeader.Memory m, MachineConfig config, Protection p,
            SnapshotKey key, byte[] snapshotId, boolean diff) throws IOException {
        MemoryFile.checkLayout(file, m, config, p);
        List<SnapshotHeader.Region> regions = m.regions();
        int chunks = 0;
        for (SnapshotHeader.Region r : regions) {
            chunks += (int) ((r.size() + MemoryFile.CHUNK - 1) / MemoryFile.CHUNK);
        }
        long[] offsets = new long[chunks];
        long[] lengths = new long[chunks];
        int i = 0;
        long pos = 0;
        for (SnapshotHeader.Region r : regions) {
            for (long off = 0; off < r.size(); off += MemoryFile.CHUNK) {
                lengths[i] = Math.min(MemoryFile.CHUNK, r.size() - off);
                offsets[i++] = pos;
                pos += lengths[i - 1] + (p == Protection.AES_256_GCM ? MemoryFile.TAG : 0);
            }
        }
        byte[] table = null;
        byte[] nonce = null;
        if (p == Protection.AES_256_GCM) {
            nonce = SnapshotFile.hex(file, m.nonceBase(), 12, "memory nonce");
        } else {
            try {
                table = Base64.getDecoder().decode(m.chunkMacs());
            } catch (IllegalArgumentException | NullPointerException e) {
                throw new SnapshotException(stateFile, "the memory chunk MAC table is not base64");
            }
            if (table.length != chunks * MemoryFile.CHUNK_MAC) {
                throw new SnapshotException(stateFile, "the memory chunk MAC table has " + table.length / MemoryFile.CHUNK_MAC
                        + " entries for " + chunks + " chunks of RAM");
            }
        }
        if (pos != m.length()) {
            throw new SnapshotException(stateFile, "the header's memory length " + m.length() + " does not match its "
                    + chunks + " chunks (" + pos + " bytes)");
        }
        FileChannel ch = FileChannel.open(file, StandardOpenOption.READ);
        try {
            MemoryFile.checkLength(file, stateFile, m, ch.size());
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
        return new MemoryChunks(file, ch, p, key, snapshotId, nonce, table, offsets, lengths,
                diff ? " " + MemoryFile.DIFF_MISMATCH : "");
    }

    int chunks() {
        return length.length;
    }

    @Override
    public void read(int index, MemorySegment into) throws IOException {
        if (index < 0 || index >= length.length || into.byteSize() != length[index]) {
            throw new IllegalArgumentException("chunk " + index + " of " + into.byteSize() + " bytes does not match the file's layout");
        }
        if (protection == Protection.AES_256_GCM) {
            sealed.clear().limit((int) length[index] + MemoryFile.TAG);
            readFully(sealed, fileOffset[index], index);
            sealed.flip();
            boolean last = index == length.length - 1;
            try {
                MemoryFile.chunkCipher(Cipher.DECRYPT_MODE, key, nonceBase, snapshotId, index, last)
                        .doFinal(sealed, into.asByteBuffer());
            } catch (AEADBadTagException e) {
                throw new SnapshotException(file, "memory chunk " + index
                        + " failed authentication when it was read (modified, or from another snapshot)" + hint);
            } catch (GeneralSecurityException e) {
                throw new IllegalStateException("AES/GCM unavailable", e);
            }
            return;
        }
        ByteBuffer plain = into.asByteBuffer();
        readFully(plain, fileOffset[index], index);
        plain.flip();
        byte[] mac = MemoryFile.chunkMac(key, plain);
        byte[] want = java.util.Arrays.copyOfRange(table, index * MemoryFile.CHUNK_MAC, (index + 1) * MemoryFile.CHUNK_MAC);
        if (!SnapshotKey.sameMac(java.util.Arrays.copyOf(mac, MemoryFile.CHUNK_MAC), want)) {
            throw new SnapshotException(file, "memory chunk " + index + " does not match the state file's MAC table"
                    + " when it was read (the memory file changed, or is from another snapshot)" + hint);
        }
    }

    private void readFully(ByteBuffer into, long position, int index) throws IOException {
        while (into.hasRemaining()) {
            if (channel.read(into, position + into.position()) < 0) {
                throw new SnapshotException(file, "memory file ended inside chunk " + index + " (truncated after the restore began)");
            }
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
