package io.jkvm.storage;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Locale;
import java.util.Set;

/**
 * {@code jkvm image create}: a new, empty raw or qcow2 image. Unlike qemu-img, an existing file is
 * refused unless {@code force} (a mistyped name must not wipe a disk), and even then only when
 * no one holds its lock. Every argument is checked first, with a message naming it.
 */
public final class ImageCreator {
    public static final int DEFAULT_CLUSTER_SIZE = 65536;

    private ImageCreator() {}

    /**
     * What to create. {@code size} 0 means the backing image's size; {@code backing} is the name as it
     * goes into the header (relative names resolve against the new image's directory, as qemu does).
     */
    public record Request(Path file, DiskFormat format, long size, String backing, DiskFormat backingFormat,
            int clusterSize, boolean force) {}

    /** Parses a size: bytes, or a number with K, M, G, T, P or E (powers of 1024), e.g. 10G, 512M. */
    public static long parseSize(String what, String s) {
        String t = s.trim().toUpperCase(Locale.ROOT);
        if (t.endsWith("B") && t.length() > 1 && !Character.isDigit(t.charAt(t.length() - 2))) {
            t = t.substring(0, t.length() - 1); // 10GB, 4KiB -> 10G, 4Ki
        }
        if (t.endsWith("I")) {
            t = t.substring(0, t.length() - 1);
        }
        int shift = 0;
        if (!t.isEmpty() && "KMGTPE".indexOf(t.charAt(t.length() - 1)) >= 0) {
            shift = 10 * ("KMGTPE".indexOf(t.charAt(t.length() - 1)) + 1);
            t = t.substring(0, t.length() - 1);
        }
        long n;
        try {
            n = Long.parseLong(t);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(what + " '" + s + "' is not a size (bytes, or a number with K, M, G, T, P, E)");
        }
        if (n < 0 || (shift > 0 && n > (Long.MAX_VALUE >>> shift))) {
            throw new IllegalArgumentException(what + " '" + s + "' is out of range");
        }
        return n << shift;
    }

    /**
     * Creates the image; returns its virtual size.
     *
     * @throws IllegalArgumentException for an invalid argument (the message names it)
     * @throws IOException if the file cannot be created or the backing image cannot be opened
     */
    public static long create(Request r) throws IOException {
        boolean qcow2 = r.format() == DiskFormat.QCOW2;
        int clusterSize = r.clusterSize() == 0 ? DEFAULT_CLUSTER_SIZE : r.clusterSize();
        if (!qcow2 && r.clusterSize() != 0) {
            throw new IllegalArgumentException("--cluster-size applies to qcow2 images only");
        }
        if (!qcow2 && r.backing() != null) {
            throw new IllegalArgumentException("-b (backing file) applies to qcow2 images only");
        }
        if (Integer.bitCount(clusterSize) != 1 || clusterSize < (1 << Qcow2Header.MIN_CLUSTER_BITS)
                || clusterSize > (1 << Qcow2Header.MAX_CLUSTER_BITS)) {
            throw new IllegalArgumentException("--cluster-size " + clusterSize + " must be a power of two from 512 to 2M");
        }
        if (r.backing() != null && r.backingFormat() == null) {
            throw new IllegalArgumentException("-b " + r.backing() + " needs -F raw|qcow2 (the backing format is recorded, "
                    + "never probed)");
        }
        if (r.backing() == null && r.backingFormat() != null) {
            throw new IllegalArgumentException("-F needs -b");
        }
        boolean exists = Files.exists(r.file(), java.nio.file.LinkOption.NOFOLLOW_LINKS);
        if (exists && !r.force()) {
            throw new IllegalArgumentException(r.file() + " already exists; refusing to overwrite it (pass --force)");
        }
        if (exists && !Files.isRegularFile(r.file(), java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            throw new IllegalArgumentException(r.file() + " exists and is not a regular file; refusing to overwrite it");
        }
        long size = r.size();
        if (r.backing() != null) {
            long backingSize = checkBacking(r, exists);
            if (size == 0) {
                size = backingSize;
            }
        }
        int clusterBits = Integer.numberOfTrailingZeros(clusterSize);
        if (size <= 0) {
            throw new IllegalArgumentException("SIZE must be more than 0 bytes");
        }
        if (qcow2 && size % 512 != 0) {
            throw new IllegalArgumentException("SIZE " + size + " must be a multiple of 512 for qcow2 (as qemu requires)");
        }
        if (qcow2 && size > Qcow2Creator.maxSize(clusterBits)) {
            throw new IllegalArgumentException("SIZE " + size + " is larger than a qcow2 image with " + clusterSize
                    + "-byte clusters can address (" + Qcow2Creator.maxSize(clusterBits) + " bytes)");
        }
        if (!exists) {
            try {
                Files.createFile(r.file());
            } catch (FileAlreadyExistsException e) {
                throw new IllegalArgumentException(r.file() + " already exists; refusing to overwrite it (pass --force)");
            }
        }
        try {
            write(r, qcow2, size, clusterBits);
        } catch (IOException | RuntimeException e) {
            if (!exists) {
                Files.deleteIfExists(r.file()); // nothing half-made is left under a name we created
            }
            throw e;
        }
        return size;
    }

    private static void write(Request r, boolean qcow2, long size, int clusterBits) throws IOException {
        // The exclusive lock first: a VM (or qemu) using the file makes this fail before anything changes.
        try (LockedFile f = LockedFile.open(r.file(), false)) {
            try (RandomAccessFile raf = new RandomAccessFile(r.file().toFile(), "rw")) {
                raf.setLength(0);
                if (!qcow2) {
                    raf.setLength(size); // ftruncate: a sparse file
                }
            }
            if (qcow2) {
                Qcow2Creator.write(f, size, clusterBits, r.backing(),
                        r.backingFormat() == null ? null : r.backingFormat().id());
            } else {
                f.flush();
            }
        }
    }

    /**
     * Opens the backing chain read-only as the VMM would open it from the backing file's own
     * directory (so a broken chain is refused now, not at boot); returns the backing image's size.
     */
    private static long checkBacking(Request r, boolean fileExists) throws IOException {
        Path b = Path.of(r.backing());
        if (!b.isAbsolute()) {
            Path parent = r.file().toAbsolutePath().getParent();
            b = parent == null ? b : parent.resolve(b);
        }
        if (!Files.isRegularFile(b)) {
            throw new IllegalArgumentException("-b " + r.backing() + ": no such file (" + b + ")");
        }
        Set<Path> chain = new HashSet<>();
        chain.add(b.toRealPath());
        if (r.backingFormat() == DiskFormat.QCOW2) {
            chain.addAll(BackingChain.files(b, BackingPolicy.TOP_DIRECTORY));
        }
        if (fileExists && chain.contains(r.file().toRealPath())) {
            throw new IllegalArgumentException("-b " + r.backing() + ": " + r.file() + " is in its backing chain (a loop)");
        }
        try (DiskImage d = DiskImages.open(b, r.backingFormat(), true, BackingPolicy.TOP_DIRECTORY)) {
            return d.size();
        }
    }

    /** Whether the VMM would follow {@code backing} from {@code file} by default (same directory). */
    public static boolean backingInImageDirectory(Path file, String backing) {
        try {
            Path b = Path.of(backing);
            Path dir = file.toAbsolutePath().getParent();
            Path real = (b.isAbsolute() ? b : dir.resolve(b)).toRealPath();
            return real.startsWith(dir.toRealPath());
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }
}
