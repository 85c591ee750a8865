package io.jkvm.arch.x86.boot;

/**
 * Bounds-checked little-endian reads from an untrusted file image. Any read that does not lie
 * entirely inside the image raises {@link KernelFormatException} naming what was being read, so
 * parsers can read fields without first proving every offset themselves.
 */
final class LeBytes {
    private final byte[] data;
    private final String what;

    LeBytes(byte[] data, String what) {
        this.data = data;
        this.what = what;
    }

    int length() {
        return data.length;
    }

    byte[] array() {
        return data;
    }

    /** Whether [offset, offset+len) lies inside the image; safe for any (even negative) values. */
    boolean contains(long offset, long len) {
        return offset >= 0 && len >= 0 && offset <= data.length && len <= data.length - offset;
    }

    void require(long offset, long len, String field) {
        if (!contains(offset, len)) {
            throw new KernelFormatException(String.format(
                    "%s: %s at offset 0x%x (+%d bytes) lies beyond the file size 0x%x",
                    what, field, offset, len, data.length));
        }
    }

    int u8(long offset, String field) {
        require(offset, 1, field);
        return data[(int) offset] & 0xff;
    }

    int u16(long offset, String field) {
        require(offset, 2, field);
        int o = (int) offset;
        return (data[o] & 0xff) | (data[o + 1] & 0xff) << 8;
    }

    long u32(long offset, String field) {
        require(offset, 4, field);
        int o = (int) offset;
        return (data[o] & 0xffL) | (data[o + 1] & 0xffL) << 8 | (data[o + 2] & 0xffL) << 16
                | (data[o + 3] & 0xffL) << 24;
    }

    long u64(long offset, String field) {
        require(offset, 8, field);
        return u32(offset, field) | u32(offset + 4, field) << 32;
    }
}
