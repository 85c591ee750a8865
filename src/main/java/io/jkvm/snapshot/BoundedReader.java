package io.jkvm.snapshot;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;

/**
 * Reads big-endian values from a byte array that may be hostile: every read is checked against
 * what is left, and every length against a caller-given bound, before anything is allocated.
 * Failures are {@link SnapshotException}s naming the file and what was being read.
 */
public final class BoundedReader {
    private final byte[] buf;
    private final int end;
    private final Path file;
    private final String what;
    private final DeviceCodecs codecs;
    private String device;
    private int depth;
    private int pos;

    BoundedReader(byte[] buf, int offset, int length, Path file, String what) {
        this(buf, offset, length, file, what, null);
    }

    /** A reader of device {@code device}'s state whose {@link #nested} records are decoded through {@code codecs}. */
    BoundedReader(byte[] buf, String device, DeviceCodecs codecs) {
        this(buf, 0, buf.length, null, "device " + device, codecs);
        this.device = device;
    }

    private BoundedReader(byte[] buf, int offset, int length, Path file, String what, DeviceCodecs codecs) {
        if (offset < 0 || length < 0 || offset > buf.length - length) {
            throw new SnapshotException(file, what + ": section outside the file");
        }
        this.buf = buf;
        this.pos = offset;
        this.end = offset + length;
        this.file = file;
        this.what = what;
        this.codecs = codecs;
    }

    /** A reader of a whole byte array (tests, codecs of nested encodings). */
    public static BoundedReader of(byte[] bytes, String what) {
        return new BoundedReader(bytes, 0, bytes.length, null, what);
    }

    /**
     * A record nested in the one being read (a virtio device's own state inside its transport
     * state): its kind, then its fields, decoded by the codec registered for that kind, which
     * must produce a {@code type}.
     */
    public <S extends Record> S nested(Class<S> type, String field) {
        if (codecs == null) {
            throw new IllegalStateException("this reader has no codecs for nested records");
        }
        return codecs.readNested(this, type, field);
    }

    /** How many records are being decoded around the current position ({@link DeviceCodecs}). */
    int depth() {
        return depth;
    }

    void enter() {
        depth++;
    }

    void leave() {
        depth--;
    }

    /** The id of the device whose state this is, or null. */
    public String device() {
        return device;
    }

    /** A u8 in [min, max]. */
    public int u8(String field, int min, int max) {
        return within(field, u8(field), min, max);
    }

    /** A u16 in [min, max]. */
    public int u16(String field, int min, int max) {
        return within(field, u16(field), min, max);
    }

    private int within(String field, int v, int min, int max) {
        if (v < min || v > max) {
            throw fail(field + " " + v + " outside " + min + ".." + max);
        }
        return v;
    }

    public int remaining() {
        return end - pos;
    }

    private void need(long n, String field) {
        if (n < 0 || n > remaining()) {
            throw fail("truncated " + field + " (needs " + n + " bytes, " + remaining() + " left)");
        }
    }

    public SnapshotException fail(String problem) {
        return new SnapshotException(file, what + ": " + problem);
    }

    public int u8(String field) {
        need(1, field);
        return buf[pos++] & 0xff;
    }

    /** A u8 that must be 0 or 1. */
    public boolean bool(String field) {
        int v = u8(field);
        if (v > 1) {
            throw fail(field + " is " + v + ", not a boolean (0 or 1)");
        }
        return v == 1;
    }

    /** Reads a version byte and refuses any other than {@code expected}. */
    public void version(int expected, String encoding) {
        int v = u8(encoding + " version");
        if (v != expected) {
            throw fail(encoding + " version " + v + ", this jkvm reads " + expected);
        }
    }

    public int u16(String field) {
        need(2, field);
        int v = ((buf[pos] & 0xff) << 8) | (buf[pos + 1] & 0xff);
        pos += 2;
        return v;
    }

    public int i32(String field) {
        need(4, field);
        int v = ((buf[pos] & 0xff) << 24) | ((buf[pos + 1] & 0xff) << 16) | ((buf[pos + 2] & 0xff) << 8) | (buf[pos + 3] & 0xff);
        pos += 4;
        return v;
    }

    public long i64(String field) {
        long hi = i32(field) & 0xffffffffL;
        long lo = i32(field) & 0xffffffffL;
        return (hi << 32) | lo;
    }

    /** A u32 count or length, refused unless in [0, max]. */
    public int count(String field, int max) {
        long v = i32(field) & 0xffffffffL;
        if (v > max) {
            throw fail(field + " " + v + " exceeds the limit " + max);
        }
        return (int) v;
    }

    public byte[] bytes(int n, String field) {
        need(n, field);
        byte[] out = new byte[n];
        System.arraycopy(buf, pos, out, 0, n);
        pos += n;
        return out;
    }

    /** A u32-length-prefixed byte string of at most {@code max} bytes. */
    public byte[] blob(String field, int max) {
        return bytes(count(field + " length", max), field);
    }

    /** A u16-length-prefixed UTF-8 string of at most {@code max} bytes. */
    public String string(String field, int max) {
        int n = u16(field + " length");
        if (n > max) {
            throw fail(field + " length " + n + " exceeds the limit " + max);
        }
        return new String(bytes(n, field), StandardCharsets.UTF_8);
    }

    public void expectEnd() {
        if (remaining() != 0) {
            throw fail(remaining() + " unexpected trailing bytes");
        }
    }
}
