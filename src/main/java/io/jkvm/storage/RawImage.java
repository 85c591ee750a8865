package io.jkvm.storage;

import io.jkvm.kvm.Native;
import io.jkvm.kvm.NativeException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
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
public final class RawImage implements AutoCloseable {
    private static final long ZERO_CHUNK = 64 * 1024;
    private static final MemorySegment ZEROES = Arena.global().allocate(ZERO_CHUNK, 4096);

    private final Path path;
    private final int fd;
    private final boolean readOnly;
    private final long size;
    private volatile boolean closed;

    private RawImage(Path path, int fd, boolean readOnly, long size) {
        this.path = path;
        this.fd = fd;
        this.readOnly = readOnly;
        this.size = size;
    }

    /**
     * Opens and locks {@code path}.
     *
     * @throws IOException if it cannot be opened, is not a regular file, or is locked by
     *     another user (the message names the file)
     */
    public static RawImage open(Path path, boolean readOnly) throws IOException {
        if (!Files.isRegularFile(path)) {
            throw new IOException("disk image " + path + " does not exist or is not a regular file");
        }
        int fd;
        try {
            fd = Native.open(path.toString(), (readOnly ? Native.O_RDONLY : Native.O_RDWR) | Native.O_CLOEXEC);
        } catch (NativeException e) {
            throw new IOException("cannot open disk image " + path + ": " + e.getMessage(), e);
        }
        try {
            int r = Native.ofdLock(fd, readOnly ? Native.F_RDLCK : Native.F_WRLCK);
            if (r == -Native.EAGAIN || r == -Native.EACCES) {
                throw new IOException("disk image " + path + " is in use by another VM or process (cannot get "
                        + (readOnly ? "a shared" : "an exclusive") + " lock); use readonly=on on every user to share it");
            }
            if (r < 0) {
                throw new IOException("cannot lock disk image " + path + ": " + Native.strerror(-r));
            }
            long size = Native.lseek(fd, 0, Native.SEEK_END);
            if (size < 0) {
                throw new IOException("cannot get the size of disk image " + path + ": " + Native.strerror((int) -size));
            }
            return new RawImage(path, fd, readOnly, size);
        } catch (IOException | RuntimeException e) {
            Native.close(fd);
            throw e;
        }
    }

    public Path path() {
        return path;
    }

    public boolean readOnly() {
        return readOnly;
    }

    /** Size in bytes when opened. */
    public long size() {
        return size;
    }

    /**
     * Reads {@code dst.byteSize()} bytes at {@code offset} directly into {@code dst}; bytes past
     * the end of the file read as zero.
     */
    public void read(long offset, MemorySegment dst) throws IOException {
        checkRange(offset, dst.byteSize());
        long done = 0;
        long len = dst.byteSize();
        while (done < len) {
            long r = Native.pread(fd, dst.asSlice(done), len - done, offset + done);
            if (r == -Native.EINTR) {
                continue;
            }
            if (r < 0) {
                throw new IOException("read of " + path + " at " + (offset + done) + " failed: " + Native.strerror((int) -r));
            }
            if (r == 0) {
                dst.asSlice(done).fill((byte) 0); // short file: the rest reads as zeroes
                return;
            }
            done += r;
        }
    }

    /** Writes all of {@code src} at {@code offset} directly from guest memory. */
    public void write(long offset, MemorySegment src) throws IOException {
        checkWritable();
        checkRange(offset, src.byteSize());
        long done = 0;
        long len = src.byteSize();
        while (done < len) {
            long r = Native.pwrite(fd, src.asSlice(done), len - done, offset + done);
            if (r == -Native.EINTR) {
                continue;
            }
            if (r <= 0) {
                throw new IOException("write of " + path + " at " + (offset + done) + " failed: "
                        + (r == 0 ? "no progress" : Native.strerror((int) -r)));
            }
            done += r;
        }
    }

    /** fsync(2): everything written so far is durable when this returns. */
    public void flush() throws IOException {
        int r;
        do {
            r = Native.fsync(fd);
        } while (r == -Native.EINTR);
        if (r < 0) {
            throw new IOException("fsync of " + path + " failed: " + Native.strerror(-r));
        }
    }

    /**
     * Deallocates a range (FALLOC_FL_PUNCH_HOLE | KEEP_SIZE); it then reads as zeroes. Returns
     * false if the filesystem cannot punch holes (discard is only a hint, §5.2.6.2).
     */
    public boolean discard(long offset, long len) throws IOException {
        checkWritable();
        checkRange(offset, len);
        int r = Native.fallocate(fd, Native.FALLOC_FL_PUNCH_HOLE | Native.FALLOC_FL_KEEP_SIZE, offset, len);
        if (r == -Native.EOPNOTSUPP || r == -Native.EINVAL) {
            return false;
        }
        if (r < 0) {
            throw new IOException("discard on " + path + " failed: " + Native.strerror(-r));
        }
        return true;
    }

    /**
     * Makes a range read as zeroes: FALLOC_FL_ZERO_RANGE (or PUNCH_HOLE when {@code unmap}),
     * falling back to writing zero blocks where the filesystem lacks the mode.
     */
    public void writeZeroes(long offset, long len, boolean unmap) throws IOException {
        checkWritable();
        checkRange(offset, len);
        int mode = unmap ? Native.FALLOC_FL_PUNCH_HOLE | Native.FALLOC_FL_KEEP_SIZE : Native.FALLOC_FL_ZERO_RANGE;
        int r = Native.fallocate(fd, mode, offset, len);
        if (r == 0) {
            return;
        }
        if (r != -Native.EOPNOTSUPP && r != -Native.EINVAL) {
            throw new IOException("write-zeroes on " + path + " failed: " + Native.strerror(-r));
        }
        long done = 0;
        while (done < len) {
            long n = Math.min(ZERO_CHUNK, len - done);
            write(offset + done, ZEROES.asSlice(0, n));
            done += n;
        }
    }

    private void checkWritable() throws IOException {
        if (readOnly) {
            throw new IOException("disk image " + path + " is read-only");
        }
    }

    private void checkRange(long offset, long len) throws IOException {
        if (closed) {
            throw new IOException("disk image " + path + " is closed");
        }
        if (offset < 0 || len < 0 || offset > size || len > size - offset) {
            throw new IOException("range [" + offset + ", +" + len + ") is outside disk image " + path
                    + " of " + size + " bytes");
        }
    }

    /**
     * Drops (false) or takes again (true) this image's lock while keeping the file open: live
     * migration hands the image over to the destination VMM at the pause, and takes it back if
     * the migration fails before the destination started.
     *
     * @throws IOException if the lock cannot be taken back (another process took the image)
     */
    public synchronized void setLocked(boolean locked) throws IOException {
        short type = !locked ? Native.F_UNLCK : readOnly ? Native.F_RDLCK : Native.F_WRLCK;
        int r = Native.ofdLock(fd, type);
        if (r < 0) {
            throw new IOException("cannot " + (locked ? "re-lock" : "unlock") + " disk image " + path + ": "
                    + Native.strerror(-r));
        }
    }

    /** Closes the file, which also releases the lock. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            Native.close(fd);
        }
    }
}
