package io.jkvm.storage;

import io.jkvm.kvm.Native;
import io.jkvm.kvm.NativeException;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * An image file opened with pread/pwrite and locked with an open-file-description lock
 * (fcntl F_OFD_SETLK): exclusive for read-write, shared for read-only. OFD locks conflict between
 * any two opens, in one process or several, so two VMs cannot both write one image while any
 * number of read-only users share it. The lock lives as long as the descriptor.
 *
 * <p>Thread-safe: positional I/O has no shared file offset.
 */
final class LockedFile implements ImageFile {
    private final Path path;
    private final int fd;
    private final boolean readOnly;
    private volatile long length;
    private volatile boolean closed;

    private LockedFile(Path path, int fd, boolean readOnly, long length) {
        this.path = path;
        this.fd = fd;
        this.readOnly = readOnly;
        this.length = length;
    }

    /**
     * Opens and locks {@code path}.
     *
     * @throws IOException if it cannot be opened, is not a regular file, or is locked by another
     *     user (the message names the file)
     */
    static LockedFile open(Path path, boolean readOnly) throws IOException {
        return open(path, readOnly, true);
    }

    /**
     * As {@link #open(Path, boolean)} for a path the caller has checked by its real path (a backing
     * file inside the allowed directories), then checks that the descriptor names exactly
     * {@code real}: a directory or the file swapped for a link between the check and the open
     * would otherwise lead the open elsewhere.
     */
    static LockedFile openChecked(Path real, boolean readOnly) throws IOException {
        LockedFile f = open(real, readOnly);
        Path opened;
        try {
            opened = Files.readSymbolicLink(Path.of("/proc/self/fd/" + f.fd));
        } catch (IOException e) {
            f.close();
            throw new IOException("cannot tell which file was opened as disk image " + real + ": " + e.getMessage(), e);
        }
        if (!opened.equals(real)) {
            f.close();
            throw new IOException("disk image " + real + " changed while it was being opened (it now leads to "
                    + opened + "); refused");
        }
        return f;
    }

    /** As {@link #open(Path, boolean)}; {@code lock} false: only to read a header while another user may hold the lock. */
    static LockedFile open(Path path, boolean readOnly, boolean lock) throws IOException {
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
            int r = lock ? Native.ofdLock(fd, readOnly ? Native.F_RDLCK : Native.F_WRLCK) : 0;
            if (heldElsewhere(r)) {
                throw new ImageInUseException("disk image " + path + " is in use by another VM or process (cannot get "
                        + (readOnly ? "a shared" : "an exclusive") + " lock); use readonly=on on every user to share it");
            }
            if (r < 0) {
                throw new IOException("cannot lock disk image " + path + ": " + Native.strerror(-r));
            }
            long size = Native.lseek(fd, 0, Native.SEEK_END);
            if (size < 0) {
                throw new IOException("cannot get the size of disk image " + path + ": " + Native.strerror((int) -size));
            }
            return new LockedFile(path, fd, readOnly, size);
        } catch (IOException | RuntimeException e) {
            Native.close(fd);
            throw e;
        }
    }

    @Override
    public Path path() {
        return path;
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    @Override
    public long length() {
        return length;
    }

    /** Reads {@code dst} at {@code offset}; bytes past the end of the file read as zero. */
    @Override
    public void read(long offset, MemorySegment dst) throws IOException {
        checkOpen();
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

    @Override
    public void write(long offset, MemorySegment src) throws IOException {
        checkOpen();
        if (readOnly) {
            throw new IOException("disk image " + path + " is read-only");
        }
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
        grow(offset + len);
    }

    private synchronized void grow(long end) {
        if (end > length) {
            length = end;
        }
    }

    /** fsync(2). */
    @Override
    public void flush() throws IOException {
        checkOpen();
        int r;
        do {
            r = Native.fsync(fd);
        } while (r == -Native.EINTR);
        if (r < 0) {
            throw new IOException("fsync of " + path + " failed: " + Native.strerror(-r));
        }
    }

    /** fallocate(2) with {@code mode}; returns 0 or -errno. */
    int fallocate(int mode, long offset, long len) throws IOException {
        checkOpen();
        return Native.fallocate(fd, mode, offset, len);
    }

    @Override
    public synchronized void setLocked(boolean locked) throws IOException {
        short type = !locked ? Native.F_UNLCK : readOnly ? Native.F_RDLCK : Native.F_WRLCK;
        int r = Native.ofdLock(fd, type);
        if (locked && heldElsewhere(r)) {
            throw new ImageInUseException("cannot re-lock disk image " + path + ": another VM or process holds it");
        }
        if (r < 0) {
            throw new IOException("cannot " + (locked ? "re-lock" : "unlock") + " disk image " + path + ": "
                    + Native.strerror(-r));
        }
    }

    /** F_OFD_SETLK's refusal because another open holds a conflicting lock (fcntl(2): EAGAIN or EACCES). */
    private static boolean heldElsewhere(int r) {
        return r == -Native.EAGAIN || r == -Native.EACCES;
    }

    boolean closed() {
        return closed;
    }

    private void checkOpen() throws IOException {
        if (closed) {
            throw new IOException("disk image " + path + " is closed");
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
