package io.jkvm.snapshot;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Reads big-endian values from a byte array that may be hostile: every read is checked against
 * what is left, and every length against a caller-given bound, before anything is allocated.
 * Failures are {@link SnapshotException}s naming the file and what was being read.
 */
final class BoundedReader {
    private final byte[] buf;
    private final int end;
    private final Path file;
    private final String what;
    private int pos;

    BoundedReader(byte[] buf, int offset, int length, Path file, String what) {
        if (offset < 0 || length < 0 || offset > buf.length - length) {
            throw new SnapshotException(file, what + ": section outside the file");
        }
        this.buf = buf;
        this.pos = offset;
        this.end = offset + length;
        this.file = file;
        this.what = what;
    }

    int remaining() {
        return end - pos;
    }

    private void need(long n, String field) {
        if (n < 0 || n > remaining()) {
            throw fail("truncated " + field + " (needs " + n + " bytes, " + remaining() + " left)");
        }
    }

    SnapshotException fail(String problem) {
        return new SnapshotException(file, what + ": " + problem);
    }

    int u8(String field) {
        need(1, field);
        return buf[pos++] & 0xff;
    }

    /** A u8 that must be 0 or 1. */
    boolean bool(String field) {
        int v = u8(field);
        if (v > 1) {
            throw fail(field + " is " + v + ", not a boolean (0 or 1)");
        }
        return v == 1;
    }

    /** Reads a version byte and refuses any other than {@code expected}. */
    void version(int expected, String encoding) {
        int v = u8(encoding + " version");
        if (v != expected) {
            throw fail(encoding + " version " + v + ", this jkvm reads " + expected);
        }
    }

    int u16(String field) {
        need(2, field);
        int v = ((buf[pos] & 0xff) << 8) | (buf[pos + 1] & 0xff);
        pos += 2;
        return v;
    }

    int i32(String field) {
        need(4, field);
        int v = ((buf[pos] & 0xff) << 24) | ((buf[pos + 1] & 0xff) << 16) | ((buf[pos + 2] & 0xff) << 8) | (buf[pos + 3] & 0xff);
        pos += 4;
        return v;
    }

    long i64(String field) {
        long hi = i32(field) & 0xffffffffL;
        long lo = i32(field) & 0xffffffffL;
        return (hi << 32) | lo;
    }

    /** A u32 count or length, refused unless in [0, max]. */
    int count(String field, int max) {
        long v = i32(field) & 0xffffffffL;
        if (v > max) {
            throw fail(field + " " + v + " exceeds the limit " + max);
        }
        return (int) v;
    }

    byte[] bytes(int n, String field) {
        need(n, field);
        byte[] out = new byte[n];
        System.arraycopy(buf, pos, out, 0, n);
        pos += n;
        return out;
    }

    /** A u32-length-prefixed byte string of at most {@code max} bytes. */
    byte[] blob(String field, int max) {
        return bytes(count(field + " length", max), field);
    }

    /** A u16-length-prefixed UTF-8 string of at most {@code max} bytes. */
    String string(String field, int max) {
        int n = u16(field + " length");
        if (n > max) {
            throw fail(field + " length " + n + " exceeds the limit " + max);
        }
        return new String(bytes(n, field), StandardCharsets.UTF_8);
    }

    void expectEnd() {
        if (remaining() != 0) {
            throw fail(remaining() + " unexpected trailing bytes");
        }
    }
}
