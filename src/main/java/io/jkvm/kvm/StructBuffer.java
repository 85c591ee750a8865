package io.jkvm.kvm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * A KVM structure held as bytes on the Java heap, with little-endian typed access by offset.
 * Used for state that is read, adjusted, written back and saved in snapshots as-is.
 */
public class StructBuffer {
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final byte[] bytes;
    private final MemorySegment seg;

    public StructBuffer(byte[] bytes) {
        this.bytes = bytes;
        this.seg = MemorySegment.ofArray(bytes);
    }

    public StructBuffer(int size) {
        this(new byte[size]);
    }

    /** The raw bytes (live, not a copy). */
    public byte[] bytes() {
        return bytes;
    }

    public int u8(int off) {
        return bytes[off] & 0xff;
    }

    public void u8(int off, int v) {
        bytes[off] = (byte) v;
    }

    public int u16(int off) {
        return seg.get(U16, off) & 0xffff;
    }

    public void u16(int off, int v) {
        seg.set(U16, off, (short) v);
    }

    public int u32(int off) {
        return seg.get(U32, off);
    }

    public void u32(int off, int v) {
        seg.set(U32, off, v);
    }

    public long u64(int off) {
        return seg.get(U64, off);
    }

    public void u64(int off, long v) {
        seg.set(U64, off, v);
    }
}
