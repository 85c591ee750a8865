package io.jkvm.api;

import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;

/**
 * Checks of the host paths a client names (kernel, images, snapshot and log files): each refusal
 * is a 400 naming the field and what is wrong with the file, before the VMM opens anything.
 * Relative paths are taken relative to the VMM's working directory, as Firecracker takes them
 * (its getting-started guide sends {@code ./firecracker.log}; under a jailer that directory is the
 * jail's root).
 */
final class HostPaths {
    private HostPaths() {}

    /**
     * {@code value} as an absolute path (a relative one resolved against the working directory),
     * or a 400 naming {@code field} (NUL bytes, unpaired surrogates...).
     */
    static Path usable(String field, String value) {
        try {
            return Path.of(value).toAbsolutePath();
        } catch (InvalidPathException e) {
            throw ApiException.badField(field, field + ": not a usable path (it has characters a file name cannot have)");
        }
    }

    /** An existing regular file the VMM can read, and write unless {@code readOnly}. */
    static void checkBackingFile(String field, String path, boolean readOnly) {
        Path p = usable(field, path);
        if (!Files.exists(p)) {
            throw ApiException.badField(field, field + " " + path + ": no such file");
        }
        if (Files.isDirectory(p)) {
            throw ApiException.badField(field, field + " " + path + ": is a directory");
        }
        if (!Files.isReadable(p)) {
            throw ApiException.badField(field, field + " " + path + ": not readable (permission denied)");
        }
        if (!readOnly && !Files.isWritable(p)) {
            throw ApiException.badField(field, field + " " + path
                    + ": not writable (set is_read_only to true, or fix its permissions)");
        }
    }

    static void checkReadableFile(String field, String path) {
        checkBackingFile(field, path, true);
    }

    /** A file the VMM may create or overwrite: not a directory, in a writable directory. */
    static Path writable(String field, String path) {
        Path p = usable(field, path);
        if (Files.isDirectory(p)) {
            throw ApiException.badField(field, field + " " + path + ": is a directory");
        }
        Path parent = p.toAbsolutePath().getParent();
        if (parent == null || !Files.isDirectory(parent)) {
            throw ApiException.badField(field, field + " " + path + ": its directory does not exist");
        }
        if (Files.exists(p) ? !Files.isWritable(p) : !Files.isWritable(parent)) {
            throw ApiException.badField(field, field + " " + path + ": not writable (permission denied)");
        }
        return p;
    }
}
