package io.jkvm.display.vnc;

import java.nio.ByteBuffer;
import java.util.Arrays;

/** A growable big-endian output buffer for building server messages before they are written. */
final class WireOut {
    private byte[] buf = new byte[64 * 1024];
    private int len;

    void clear() {
        len = 0;
    }

    int size() {
        return len;
    }

    /** Makes room for {@code n} more bytes and returns the offset they start at. */
    int reserve(int n) {
        if (len + n > buf.length) {
            buf = Arrays.copyOf(buf, Math.max(buf.length * 2, len + n));
        }
        int at = len;
        len += n;
        return at;
    }

    byte[] array() {
        return buf;
    }

    WireOut u8(int v) {
        buf[reserve(1)] = (byte) v;
        return this;
    }

    WireOut u16(int v) {
        int at = reserve(2);
        buf[at] = (byte) (v >>> 8);
        buf[at + 1] = (byte) v;
        return this;
    }

    WireOut u32(int v) {
        int at = reserve(4);
        buf[at] = (byte) (v >>> 24);
        buf[at + 1] = (byte) (v >>> 16);
        buf[at + 2] = (byte) (v >>> 8);
        buf[at + 3] = (byte) v;
        return this;
    }

    WireOut bytes(byte[] b) {
        System.arraycopy(b, 0, buf, reserve(b.length), b.length);
        return this;
    }

    ByteBuffer toBuffer() {
        return ByteBuffer.wrap(buf, 0, len);
    }
}
