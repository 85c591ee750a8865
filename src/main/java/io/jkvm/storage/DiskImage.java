package io.jkvm.storage;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * A virtual disk as virtio-blk sees it: a fixed number of bytes read and written at byte offsets
 * directly to and from guest-memory segments, whatever the file format underneath
 * ({@link RawImage}, {@link Qcow2Image}).
 *
 * <p><b>Contract</b> shared by the implementations: the image file is locked while open
 * (exclusive for read-write, shared for read-only; a conflict is an {@link IOException} naming
 * the file); {@link #flush} returns only when everything written before it is on stable storage;
 * every failure, including a malformed image, is an {@link IOException}; ranges outside
 * {@code [0, size())} are refused. Thread-safe.
 */
public interface DiskImage extends AutoCloseable {
    /** The file the guest's disk lives in (the top of a backing chain). */
    Path path();

    /** The format's name as {@code --disk format=} spells it. */
    DiskFormat format();

    boolean readOnly();

    /** The virtual disk's size in bytes. */
    long size();

    /** Reads {@code dst.byteSize()} bytes of the virtual disk at {@code offset} into {@code dst}. */
    void read(long offset, MemorySegment dst) throws IOException;

    /** Writes all of {@code src} to the virtual disk at {@code offset}. */
    void write(long offset, MemorySegment src) throws IOException;

    /** Everything written so far (data and the format's metadata) is durable when this returns. */
    void flush() throws IOException;

    /**
     * Gives a range back if the format can (a hint, virtio 1.2 §5.2.6.2: the range's contents are
     * then unspecified); returns whether anything was done.
     */
    boolean discard(long offset, long len) throws IOException;

    /** Makes a range read as zeroes, deallocating it where the format can when {@code unmap}. */
    void writeZeroes(long offset, long len, boolean unmap) throws IOException;

    /**
     * Drops (false) or takes again (true) the lock on the image file while keeping it open: live
     * migration hands the image over to the destination at the pause.
     */
    void setLocked(boolean locked) throws IOException;

    /** Closes the file (and any backing files), which releases the locks. */
    @Override
    void close();

    /** Refuses a range outside a disk of {@code size} bytes (overflow-safe). */
    static void checkRange(Path path, long size, long offset, long len) throws IOException {
        if (offset < 0 || len < 0 || offset > size || len > size - offset) {
            throw new IOException("range [" + offset + ", +" + len + ") is outside disk image " + path
                    + " of " + size + " bytes");
        }
    }
}
