package io.jkvm.storage;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * An in-memory {@link ImageFile} for hostile-input tests: sparse 4 KiB pages, and an
 * {@link AssertionError} (which no parser catches as an {@link IOException}) for any read
 * outside the file or any growth past a bound, so a test sees those as failures.
 */
final class MemoryFile implements ImageFile {
    private static final int PAGE = 4096;
    /** Growth allowed past the initial length: a few requests' clusters and metadata, plus the allocation probe. */
    static final long MAX_GROWTH = 64L << 20;
    static final int MAX_PAGES = 8192;

    private final Map<Long, byte[]> pages = new HashMap<>();
    private final boolean readOnly;
    private final long limit;
    private long length;

    MemoryFile(byte[] content, boolean readOnly) {
        this.readOnly = readOnly;
        this.length = content.length;
        this.limit = content.length + MAX_GROWTH;
        for (int off = 0; off < content.length; off += PAGE) {
            byte[] p = new byte[PAGE];
            System.arraycopy(content, off, p, 0, Math.min(PAGE, content.length - off));
            pages.put((long) off / PAGE, p);
        }
    }

    /** The file's bytes. */
    byte[] content() {
        byte[] b = new byte[Math.toIntExact(length)];
        for (long i = 0; i < length; i++) {
            byte[] p = pages.get(i / PAGE);
            b[(int) i] = p == null ? 0 : p[(int) (i % PAGE)];
        }
        return b;
    }

    @Override
    public Path path() {
        return Path.of("memory.qcow2");
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    @Override
    public synchronized long length() {
        return length;
    }

    @Override
    public synchronized void read(long offset, MemorySegment dst) {
        long n = dst.byteSize();
        if (offset < 0 || n > length || offset > length - n) {
            throw new AssertionError("read of " + n + " bytes at " + offset + " outside the file of " + length + " bytes");
        }
        for (long i = 0; i < n; i++) {
            byte[] p = pages.get((offset + i) / PAGE);
            dst.set(ValueLayout.JAVA_BYTE, i, p == null ? 0 : p[(int) ((offset + i) % PAGE)]);
        }
    }

    @Override
    public synchronized void write(long offset, MemorySegment src) throws IOException {
        if (readOnly) {
            throw new IOException("read-only");
        }
        long n = src.byteSize();
        if (offset < 0 || offset > limit - n) {
            throw new AssertionError("write of " + n + " bytes at " + offset + " grows the file past " + limit);
        }
        for (long i = 0; i < n; i++) {
            byte[] p = pages.computeIfAbsent((offset + i) / PAGE, k -> new byte[PAGE]);
            p[(int) ((offset + i) % PAGE)] = src.get(ValueLayout.JAVA_BYTE, i);
        }
        if (pages.size() > MAX_PAGES) {
            throw new AssertionError("the file holds " + pages.size() + " pages, more than " + MAX_PAGES);
        }
        length = Math.max(length, offset + n);
    }

    @Override
    public void flush() {}

    @Override
    public void setLocked(boolean locked) {}

    @Override
    public void close() {}
}
