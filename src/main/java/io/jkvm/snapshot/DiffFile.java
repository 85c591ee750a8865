package io.jkvm.snapshot;

import io.jkvm.memory.GuestMemory;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.HexFormat;

/**
 * A Diff memory file, as Firecracker writes one: as long as all guest RAM, but only the dirty
 * pages are written (at their offsets in a Full memory file), the rest are holes. Merging it
 * onto the base memory file (the previous snapshot's, itself merged) gives this snapshot's RAM.
 * Its MAC covers the written runs' bytes in order; the runs and the MAC are in the state file's
 * authenticated header ({@link SnapshotHeader.Diff}).
 */
final class DiffFile {
    private DiffFile() {}

    private static final int CHUNK = MemoryFile.CHUNK;

    /** Writes the runs of {@code mem} into {@code file} (created, empty); returns the header record. */
    static SnapshotHeader.Diff write(Path file, GuestMemory mem, DirtyRuns runs, SnapshotKey key) throws IOException {
        BulkMac mac = key.newBulkMac();
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(runs.memoryBytes()); // sparse: unwritten pages take no blocks
            FileChannel ch = raf.getChannel();
            for (SnapshotHeader.PageRun r : runs.runs()) {
                long len = r.pages() * DirtyRuns.PAGE;
                long pos = runs.fileOffset(r.gpa());
                for (long off = 0; off < len; off += CHUNK) {
                    long n = Math.min(CHUNK, len - off);
                    // A read-only view: GuestMemory.slice would count this read as a VMM write.
                    ByteBuffer data = view(mem, r.gpa() + off, n).asByteBuffer();
                    mac.update(data.duplicate());
                    while (data.hasRemaining()) {
                        pos += ch.write(data, pos);
                    }
                }
            }
            ch.force(true);
        }
        return new SnapshotHeader.Diff(runs.memoryBytes(), HexFormat.of().formatHex(mac.doFinal()), runs.runs());
    }

    /** Checks the diff file's length and MAC against the authenticated header, reading only the runs. */
    static void verify(Path file, Path stateFile, SnapshotHeader.Diff d, DirtyRuns runs, SnapshotKey key)
            throws IOException {
        try (FileChannel ch = FileChannel.open(file)) {
            if (ch.size() != d.length()) {
                throw new SnapshotException(file, "diff file is " + ch.size() + " bytes, state file "
                        + stateFile.getFileName() + " expects " + d.length());
            }
            BulkMac mac = key.newBulkMac();
            ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
            for (SnapshotHeader.PageRun r : runs.runs()) {
                long len = r.pages() * DirtyRuns.PAGE;
                long pos = runs.fileOffset(r.gpa());
                for (long off = 0; off < len; off += CHUNK) {
                    readFully(ch, file, buf, pos + off, (int) Math.min(CHUNK, len - off));
                    mac.update(buf);
                }
            }
            byte[] want = SnapshotFile.hex(stateFile, d.mac(), 32, "diff MAC");
            if (!SnapshotKey.sameMac(mac.doFinal(), want)) {
                throw new SnapshotException(file, "diff file does not match state file " + stateFile.getFileName()
                        + " (modified, or the diff of another snapshot: MAC mismatch)");
            }
        }
    }

    /** Copies the runs of the (verified) diff onto {@code base}; returns the bytes copied. */
    static long copyRuns(Path diff, Path base, DirtyRuns runs) throws IOException {
        long copied = 0;
        try (FileChannel in = FileChannel.open(diff);
                FileChannel out = FileChannel.open(base, java.nio.file.StandardOpenOption.WRITE)) {
            if (out.size() != runs.memoryBytes()) {
                throw new SnapshotException(base, "base memory file is " + out.size() + " bytes, the snapshot's guest has "
                        + runs.memoryBytes() + " bytes of RAM (not its base memory file?)");
            }
            ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
            for (SnapshotHeader.PageRun r : runs.runs()) {
                long len = r.pages() * DirtyRuns.PAGE;
                long pos = runs.fileOffset(r.gpa());
                for (long off = 0; off < len; off += CHUNK) {
                    readFully(in, diff, buf, pos + off, (int) Math.min(CHUNK, len - off));
                    long at = pos + off;
                    while (buf.hasRemaining()) {
                        at += out.write(buf, at);
                    }
                    copied += Math.min(CHUNK, len - off);
                }
            }
            out.force(true);
        }
        return copied;
    }

    private static java.lang.foreign.MemorySegment view(GuestMemory mem, long gpa, long len) {
        for (GuestMemory.Region r : mem.regions()) {
            if (gpa >= r.guestAddress() && gpa - r.guestAddress() <= r.size() - len) {
                return r.host().asSlice(gpa - r.guestAddress(), len);
            }
        }
        throw new SnapshotException("dirty run 0x" + Long.toHexString(gpa) + " is outside this machine's RAM");
    }

    private static void readFully(FileChannel ch, Path file, ByteBuffer buf, long pos, int len) throws IOException {
        buf.clear().limit(len);
        while (buf.hasRemaining()) {
            if (ch.read(buf, pos + buf.position()) < 0) {
                throw new SnapshotException(file, "diff file truncated while being read");
            }
        }
        buf.flip();
    }
}
