package io.jkvm.snapshot;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** Big-endian writer for device-state encodings, the counterpart of {@link BoundedReader}. */
public final class StateWriter {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();
    private final DeviceCodecs codecs;

    public StateWriter() {
        this(null);
    }

    StateWriter(DeviceCodecs codecs) {
        this.codecs = codecs;
    }

    /** A record nested in the one being written: its kind, then its fields ({@link BoundedReader#nested}). */
    public StateWriter nested(Record r) {
        if (codecs == null) {
            throw new IllegalStateException("this writer has no codecs for nested records");
        }
        codecs.writeNested(this, r);
        return this;
    }

    /** One byte: 0 to 255, or a Java byte's -128 to -1 (its bit pattern). */
    public StateWriter u8(int v) {
        if (v < Byte.MIN_VALUE || v > 0xff) {
            // A silent truncation would write a snapshot that reads back as something else.
            throw new IllegalArgumentException("a u8 state field cannot hold " + v);
        }
        out.write(v);
        return this;
    }

    public StateWriter bool(boolean v) {
        return u8(v ? 1 : 0);
    }

    public StateWriter u16(int v) {
        out.write(v >>> 8);
        out.write(v);
        return this;
    }

    public StateWriter i32(int v) {
        u16(v >>> 16);
        return u16(v & 0xffff);
    }

    public StateWriter i64(long v) {
        i32((int) (v >>> 32));
        return i32((int) v);
    }

    /** u32 length, then the bytes. */
    public StateWriter blob(byte[] b) {
        i32(b.length);
        out.write(b, 0, b.length);
        return this;
    }

    /** u16 length, then UTF-8. */
    public StateWriter string(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        u16(b.length);
        out.write(b, 0, b.length);
        return this;
    }

    public byte[] toByteArray() {
        return out.toByteArray();
    }
}
