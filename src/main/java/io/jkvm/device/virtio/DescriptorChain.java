package io.jkvm.device.virtio;

import io.jkvm.memory.GuestMemory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * One available descriptor chain (virtio 1.2 §2.7.5): the head index to hand back with
 * {@link Virtqueue#addUsed}, the device-readable buffers followed by the device-writable ones.
 *
 * <p>Every buffer was checked against guest RAM when the chain was parsed and the totals are
 * bounded by {@link Virtqueue#MAX_CHAIN_BYTES}, so the helpers here cannot reach outside guest
 * RAM and lengths fit in an {@code int}. Offsets are relative to the start of the readable (or
 * writable) part, as if the buffers were one contiguous byte range.
 */
public final class DescriptorChain {
    private final GuestMemory memory;
    private final int head;
    private final List<GuestBuffer> readable;
    private final List<GuestBuffer> writable;
    private final long readableLength;
    private final long writableLength;

    DescriptorChain(GuestMemory memory, int head, List<GuestBuffer> readable, List<GuestBuffer> writable) {
        this.memory = memory;
        this.head = head;
        this.readable = List.copyOf(readable);
        this.writable = List.copyOf(writable);
        this.readableLength = total(readable);
        this.writableLength = total(writable);
    }

    private static long total(List<GuestBuffer> bufs) {
        long t = 0;
        for (GuestBuffer b : bufs) {
            t += b.length();
        }
        return t;
    }

    /** Descriptor index of the chain's head: the id for the used ring. */
    public int head() {
        return head;
    }

    public List<GuestBuffer> readable() {
        return readable;
    }

    public List<GuestBuffer> writable() {
        return writable;
    }

    public int readableLength() {
        return (int) readableLength;
    }

    public int writableLength() {
        return (int) writableLength;
    }

    /** Copies up to {@code len} readable bytes starting at {@code offset}; returns bytes copied. */
    public int read(long offset, byte[] dst, int off, int len) {
        int done = 0;
        for (MemorySegment s : slices(readable, offset, len)) {
            MemorySegment.copy(s, ValueLayout.JAVA_BYTE, 0, dst, off + done, (int) s.byteSize());
            done += (int) s.byteSize();
        }
        return done;
    }

    /** Copies up to {@code len} bytes into the writable part at {@code offset}; returns bytes copied. */
    public int write(long offset, byte[] src, int off, int len) {
        int done = 0;
        for (MemorySegment s : slices(writable, offset, len)) {
            MemorySegment.copy(src, off + done, s, ValueLayout.JAVA_BYTE, 0, (int) s.byteSize());
            done += (int) s.byteSize();
        }
        return done;
    }

    /** Zero-copy views of readable bytes {@code [offset, offset + len)} (clipped to the chain). */
    public List<MemorySegment> readableSlices(long offset, long len) {
        return slices(readable, offset, len);
    }

    /** Zero-copy views of writable bytes {@code [offset, offset + len)} (clipped to the chain). */
    public List<MemorySegment> writableSlices(long offset, long len) {
        return slices(writable, offset, len);
    }

    private List<MemorySegment> slices(List<GuestBuffer> bufs, long offset, long len) {
        List<MemorySegment> out = new ArrayList<>();
        if (offset < 0 || len <= 0) {
            return out;
        }
        long skip = offset;
        long left = len;
        for (GuestBuffer b : bufs) {
            if (left == 0) {
                break;
            }
            if (skip >= b.length()) {
                skip -= b.length();
                continue;
            }
            long n = Math.min(b.length() - skip, left);
            out.add(memory.slice(b.gpa() + skip, n));
            left -= n;
            skip = 0;
        }
        return out;
    }

    @Override
    public String toString() {
        return "DescriptorChain[head=" + head + ", readable=" + readableLength + "B/" + readable.size()
                + ", writable=" + writableLength + "B/" + writable.size() + "]";
    }
}
