package io.jkvm.storage;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;

/**
 * The host file under a format driver such as {@link Qcow2Image}: positional I/O on native
 * segments and a length that grows as the driver appends. The seam exists so that fuzz tests can
 * put an in-memory file that fails on any access outside its bounds under the parser.
 */
interface ImageFile extends AutoCloseable {
    Path path();

    boolean readOnly();

    /** The file's current length in bytes (grown by writes past the end). */
    long length();

    /** Reads all of {@code dst} at {@code offset}; the caller keeps the range inside {@link #length}. */
    void read(long offset, MemorySegment dst) throws IOException;

    /** Writes all of {@code src} at {@code offset}, growing the file when it ends past {@link #length}. */
    void write(long offset, MemorySegment src) throws IOException;

    /** Everything written so far is on stable storage when this returns. */
    void flush() throws IOException;

    /** Drops or re-takes the file's lock, keeping it open (see {@link RawImage#setLocked}). */
    void setLocked(boolean locked) throws IOException;

    @Override
    void close();
}
