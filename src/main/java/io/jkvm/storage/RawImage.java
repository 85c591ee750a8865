package io.jkvm.storage;

import io.jkvm.kvm.Native;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * A raw disk image file, opened for zero-copy I/O: reads and writes go straight between the
 * file and a caller-supplied {@link MemorySegment} (a guest-memory slice) with pread/pwrite,
 * without heap copies.
 *
 * <p><b>Locking.</b> The whole file is locked with an open-file-description lock
 * (fcntl F_OFD_SETLK): exclusive for read-write, shared for read-only. OFD locks conflict
 * between any two opens, in one process or several, so two VMs (or two disks of one VM)
 * cannot both write one image, while any number of read-only users can share it. A conflict is
 * an {@link IOException} naming the file. The lock lives as long as the descriptor.
 *
 * <p><b>Durability.</b> {@link #flush} is fsync(2): once it returns, everything written before
 * it is on stable storage and survives the VMM being killed.
 *
 * <p>Thread-safe: positional I/O has no shared file offset.
 */
public final class RawImage implements DiskImage {
    private static final long ZERO_CHUNK = 64 * 1024;
    private static final MemorySegment ZEROES = Arena.global().allocate(ZERO_CHUNK, 4096);

    private final LockedFile file;
    private final long size;

    private RawImage(LockedFile file) {
        this.file = file;
        this.size = file.length();
    }

    /**
     * Opens and locks {@code path}.
     *
     * @throws IOException if it cannot be opened, is not a regular file, or is locked by
     *     another user (the message names the file)
     */
    public static RawImage open(Path path, boolean readOnly) throws IOException {
        return new RawImage(LockedFile.open(path, readOnly));
    }

    /** Opens a backing file read-only by its checked real path ({@link LockedFile#openChecked}). */
    static RawImage openChecked(Path real) throws IOException {
        return new RawImage(LockedFile.openChecked(real, true));
    }

    @Override
    public Path path() {
        return file.path();
    }

    @Override
    public DiskFormat format() {
        return DiskFormat.RAW;
    }

    @Override
    public boolean readOnly() {
        return file.readOnly();
    }

    /** Size in bytes when opened. */
    @Override
    public long size() {
        return size;
    }

    /**
     * Reads {@code dst.byteSize()} bytes at {@code offset} directly into {@code dst}; bytes past
     * the end of the file read as zero.
     */
    @Override
    public void read(long offset, MemorySegment dst) throws IOException {
        checkRange(offset, dst.byteSize());
        file.read(offset, dst);
    }

    /** Writes all of {@code src} at {@code offset} directly from guest memory. */
    @Override
    public void write(long offset, MemorySegment src) throws IOException {
        checkWritable();
        checkRange(offset, src.byteSize());
        file.write(offset, src);
    }

    /** fsync(2): everything written so far is durable when this returns. */
    @Override
    public void flush() throws IOException {
        file.flush();
    }

    /**
     * Deallocates a range (FALLOC_FL_PUNCH_HOLE | KEEP_SIZE); it then reads as zeroes. Returns
     * false if the filesystem cannot punch holes (discard is only a hint, §5.2.6.2).
     */
    @Override
    public boolean discard(long offset, long len) throws IOException {
        checkWritable();
        checkRange(offset, len);
        int r = file.fallocate(Native.FALLOC_FL_PUNCH_HOLE | Native.FALLOC_FL_KEEP_SIZE, offset, len);
        if (r == -Native.EOPNOTSUPP || r == -Native.EINVAL) {
            return false;
        }
        if (r < 0) {
            throw new IOException("discard on " + path() + " failed: " + Native.strerror(-r));
        }
        return true;
    }

    /**
     * Makes a range read as zeroes: FALLOC_FL_ZERO_RANGE (or PUNCH_HOLE when {@code unmap}),
     * falling back to writing zero blocks where the filesystem lacks the mode.
     */
    @Override
    public void writeZeroes(long offset, long len, boolean unmap) throws IOException {
        checkWritable();
        checkRange(offset, len);
        int mode = unmap ? Native.FALLOC_FL_PUNCH_HOLE | Native.FALLOC_FL_KEEP_SIZE : Native.FALLOC_FL_ZERO_RANGE;
        int r = file.fallocate(mode, offset, len);
        if (r == 0) {
            return;
        }
        if (r != -Native.EOPNOTSUPP && r != -Native.EINVAL) {
            throw new IOException("write-zeroes on " + path() + " failed: " + Native.strerror(-r));
        }
        long done = 0;
        while (done < len) {
            long n = Math.min(ZERO_CHUNK, len - done);
            write(offset + done, ZEROES.asSlice(0, n));
            done += n;
        }
    }

    private void checkWritable() throws IOException {
        if (file.readOnly()) {
            throw new IOException("disk image " + path() + " is read-only");
        }
    }

    private void checkRange(long offset, long len) throws IOException {
        if (file.closed()) {
            throw new IOException("disk image " + path() + " is closed");
        }
        DiskImage.checkRange(path(), size, offset, len);
    }

    /**
     * Drops (false) or takes again (true) this image's lock while keeping the file open: live
     * migration hands the image over to the destination VMM at the pause, and takes it back if
     * the migration fails before the destination started.
     *
     * @throws IOException if the lock cannot be taken back (another process took the image)
     */
    @Override
    public void setLocked(boolean locked) throws IOException {
        file.setLocked(locked);
    }

    /** Closes the file, which also releases the lock. */
    @Override
    public void close() {
        file.close();
    }
}
