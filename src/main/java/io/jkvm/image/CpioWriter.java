package io.jkvm.image;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Set;
import java.util.zip.GZIPOutputStream;

/**
 * Writes a cpio archive in the "newc" format (the one the Linux kernel unpacks as an initramfs).
 *
 * <p>Each entry is a 110-byte ASCII header (magic {@code 070701} and thirteen 8-digit hex fields),
 * the NUL-terminated name and the data, each padded to 4 bytes; the archive ends with the entry
 * {@code TRAILER!!!}. Paths are written without a leading slash, as the kernel expects. Missing
 * parent directories are added automatically (mode 0755) so callers only name what they care about.
 * All entries are owned by root and carry a fixed mtime so that the same inputs give the same bytes.
 */
public final class CpioWriter implements AutoCloseable {
    private static final int S_IFDIR = 0040000;
    private static final int S_IFREG = 0100000;
    private static final int S_IFLNK = 0120000;
    private static final int S_IFCHR = 0020000;

    private final OutputStream out;
    private final Set<String> directories = new HashSet<>();
    private final Set<String> names = new HashSet<>();
    private long offset;
    private int nextInode = 1;
    private boolean closed;

    public CpioWriter(OutputStream out) {
        this.out = out;
    }

    /** A writer whose archive goes gzip-compressed into {@code file} (created or replaced). */
    public static CpioWriter gzipped(Path file) throws IOException {
        OutputStream os = new BufferedOutputStream(Files.newOutputStream(file), 1 << 16);
        return new CpioWriter(new GZIPOutputStream(os, 1 << 16));
    }

    /** Adds a directory (and its missing parents). */
    public CpioWriter directory(String path, int mode) throws IOException {
        String name = normalize(path);
        if (name.isEmpty() || directories.contains(name)) {
            return this;
        }
        parents(name);
        header(name, S_IFDIR | (mode & 07777), 2, 0, 0, 0);
        directories.add(name);
        return this;
    }

    /** Adds a regular file with the given content. */
    public CpioWriter file(String path, byte[] data, int mode) throws IOException {
        String name = normalize(path);
        parents(name);
        header(name, S_IFREG | (mode & 07777), 1, data.length, 0, 0);
        write(data);
        pad();
        return this;
    }

    /** Adds a regular file whose content is read from {@code source} on the host. */
    public CpioWriter file(String path, Path source, int mode) throws IOException {
        return file(path, Files.readAllBytes(source), mode);
    }

    /** Adds a symbolic link {@code path -> target}. */
    public CpioWriter symlink(String path, String target) throws IOException {
        String name = normalize(path);
        parents(name);
        byte[] data = target.getBytes(StandardCharsets.UTF_8);
        header(name, S_IFLNK | 0777, 1, data.length, 0, 0);
        write(data);
        pad();
        return this;
    }

    /** Adds a character device node, e.g. {@code /dev/console} (5, 1). */
    public CpioWriter charDevice(String path, int mode, int major, int minor) throws IOException {
        String name = normalize(path);
        parents(name);
        header(name, S_IFCHR | (mode & 07777), 1, 0, major, minor);
        return this;
    }

    /** Writes the trailer and closes the underlying stream. */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        header("TRAILER!!!", 0, 1, 0, 0, 0, 0);
        out.close();
    }

    private void parents(String name) throws IOException {
        int slash = name.lastIndexOf('/');
        if (slash > 0) {
            directory(name.substring(0, slash), 0755);
        }
    }

    private static String normalize(String path) {
        String p = path;
        while (p.startsWith("/")) {
            p = p.substring(1);
        }
        while (p.endsWith("/")) {
            p = p.substring(0, p.length() - 1);
        }
        if (p.contains("//") || p.equals("..") || p.startsWith("../") || p.contains("/../") || p.endsWith("/..")) {
            throw new IllegalArgumentException("bad archive path: " + path);
        }
        return p;
    }

    private void header(String name, int mode, int nlink, long size, int rdevMajor, int rdevMinor)
            throws IOException {
        if (closed) {
            throw new IllegalStateException("archive already closed");
        }
        if (!names.add(name)) {
            throw new IllegalArgumentException("duplicate archive entry: /" + name);
        }
        header(name, nextInode++, mode, nlink, size, rdevMajor, rdevMinor);
    }

    private void header(String name, int inode, int mode, int nlink, long size, int rdevMajor,
            int rdevMinor) throws IOException {
        if (size > 0xFFFF_FFFFL) {
            throw new IllegalArgumentException("file too large for cpio newc: /" + name);
        }
        byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
        StringBuilder h = new StringBuilder(110).append("070701");
        long[] fields = {inode, mode, 0 /* uid */, 0 /* gid */, nlink, 0 /* mtime */, size,
            0 /* devmajor */, 0 /* devminor */, rdevMajor, rdevMinor, nameBytes.length + 1, 0 /* check */};
        for (long f : fields) {
            h.append(String.format("%08X", f));
        }
        write(h.toString().getBytes(StandardCharsets.US_ASCII));
        write(nameBytes);
        write(new byte[] {0});
        pad();
    }

    private void write(byte[] b) throws IOException {
        out.write(b);
        offset += b.length;
    }

    private void pad() throws IOException {
        int n = (int) ((4 - (offset & 3)) & 3);
        if (n > 0) {
            write(new byte[n]);
        }
    }
}
