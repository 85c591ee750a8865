package io.jkvm.snapshot;

import java.nio.file.Path;

/**
 * A snapshot could not be written, or was refused on restore. The message names the file (when
 * one is involved) and the problem, e.g. {@code "state file /x/vm.state: modified or corrupted
 * (MAC mismatch)"}. This is the only exception the snapshot parser throws for bad input.
 */
public class SnapshotException extends RuntimeException {
    private final Path file;
    private final String problem;

    public SnapshotException(Path file, String problem) {
        this(file, problem, null);
    }

    public SnapshotException(Path file, String problem, Throwable cause) {
        super(file == null ? problem : describe(file) + ": " + problem, cause);
        this.file = file;
        this.problem = problem;
    }

    /** A problem with no file involved (e.g. an incompatible machine). */
    public SnapshotException(String problem) {
        this(null, problem, null);
    }

    public SnapshotException(String problem, Throwable cause) {
        this(null, problem, cause);
    }

    private static String describe(Path file) {
        return file.toString();
    }

    /** The file at fault, or null. */
    public Path file() {
        return file;
    }

    /** The problem without the file name. */
    public String problem() {
        return problem;
    }
}
