package io.jkvm.storage;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/** What {@code jkvm image info} shows about an opened image and its backing chain. */
public final class ImageInfo {
    private ImageInfo() {}

    /**
     * Whether {@code file} starts with the qcow2 magic. For display only: the VMM never decides a
     * disk's format this way (see {@link DiskFormat}).
     */
    public static boolean looksLikeQcow2(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            byte[] m = in.readNBytes(4);
            return m.length == 4 && ((m[0] & 0xff) << 24 | (m[1] & 0xff) << 16 | (m[2] & 0xff) << 8 | (m[3] & 0xff))
                    == Qcow2Header.MAGIC;
        }
    }

    /**
     * The size of the virtual disk in {@code file} of {@code format}, without opening (or locking)
     * it: a migration compares sizes while the other side holds the image. A raw disk is its
     * file; a qcow2 disk's size is its header's {@code size} field.
     */
    public static long virtualSize(Path file, DiskFormat format) throws IOException {
        if (format == DiskFormat.RAW) {
            return Files.size(file);
        }
        try (InputStream in = Files.newInputStream(file)) {
            byte[] h = in.readNBytes(32);
            java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(h);
            if (h.length < 32 || b.getInt(0) != Qcow2Header.MAGIC) {
                throw new IOException("qcow2 image " + file + " has no qcow2 header");
            }
            long size = b.getLong(24);
            if (size < 0) {
                throw new IOException("qcow2 image " + file + ": qcow2 header field size " + Long.toUnsignedString(size)
                        + " is too large");
            }
            return size;
        }
    }

    /** One block of lines per image of the chain, the top first. */
    public static String describe(DiskImage top) {
        StringBuilder b = new StringBuilder();
        int depth = 0;
        for (DiskImage d = top; d != null; d = d instanceof Qcow2Image q ? q.backing() : null, depth++) {
            String indent = "  ".repeat(depth);
            b.append(indent).append(depth == 0 ? "image: " : "backing file: ").append(d.path()).append('\n');
            b.append(indent).append("format: ").append(d.format().id());
            if (d instanceof Qcow2Image q) {
                b.append(" (version ").append(q.version()).append(')');
            }
            b.append('\n');
            b.append(indent).append("virtual size: ").append(d.size()).append(" bytes\n");
            if (d instanceof Qcow2Image q) {
                b.append(indent).append("cluster size: ").append(q.clusterSize()).append('\n');
                Qcow2Header h = q.header();
                b.append(indent).append("refcount bits: ").append(1 << h.refcountOrder()).append('\n');
                if ((h.incompatible() & (Qcow2Header.INCOMPAT_DIRTY | Qcow2Header.INCOMPAT_CORRUPT)) != 0) {
                    b.append(indent).append("flags:")
                            .append((h.incompatible() & Qcow2Header.INCOMPAT_DIRTY) != 0 ? " dirty" : "")
                            .append((h.incompatible() & Qcow2Header.INCOMPAT_CORRUPT) != 0 ? " corrupt" : "").append('\n');
                }
                if (h.backingFile() != null) {
                    b.append(indent).append("backing name: ").append(h.backingFile()).append(" (format ")
                            .append(h.backingFormat()).append(")\n");
                }
            }
        }
        return b.toString();
    }
}
