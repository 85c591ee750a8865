package io.jkvm.snapshot;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/** Big-endian writer for device-state encodings, the counterpart of {@link BoundedReader}. */
final class StateWriter {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    StateWriter u8(int v) {
        out.write(v);
        return this;
    }

    StateWriter bool(boolean v) {
        return u8(v ? 1 : 0);
    }

    StateWriter u16(int v) {
        out.write(v >>> 8);
        out.write(v);
        return this;
    }

    StateWriter i32(int v) {
        u16(v >>> 16);
        return u16(v & 0xffff);
    }

    StateWriter i64(long v) {
        i32((int) (v >>> 32));
        return i32((int) v);
    }

    /** u32 length, then the bytes. */
    StateWriter blob(byte[] b) {
        i32(b.length);
        out.write(b, 0, b.length);
        return this;
    }

    /** u16 length, then UTF-8. */
    StateWriter string(String s) {
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        u16(b.length);
        out.write(b, 0, b.length);
        return this;
    }

    byte[] toByteArray() {
        return out.toByteArray();
    }
}
