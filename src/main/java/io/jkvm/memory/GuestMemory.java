package io.jkvm.memory;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Guest RAM as a set of non-overlapping regions of host memory, addressed by guest-physical
 * address (GPA).
 *
 * <p>This is the only way the VMM touches guest memory: every access is bounds-checked against
 * the regions and must lie entirely inside one of them, so no guest-supplied address can make the
 * VMM read or write host memory outside guest RAM. Violations raise {@link GuestMemoryException}.
 * All multi-byte values are little-endian (x86). Thread-safe for concurrent access (the backing
 * segments are shared); guest-visible ordering is the caller's business.
 */
public final class GuestMemory {
    /** One contiguous range of guest RAM backed by {@code host}. */
    public record Region(long guestAddress, MemorySegment host) {
        public Region {
            if (guestAddress < 0) {
                throw new IllegalArgumentException("negative guest address");
            }
        }

        public long size() {
            return host.byteSize();
        }

        public long end() {
            return guestAddress + host.byteSize();
        }

        boolean contains(long gpa, long len) {
            return gpa >= guestAddress && len >= 0 && gpa - guestAddress <= size() - len;
        }
    }

    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * Told about every range the VMM may write: live migration's record of pages written by
     * userspace (virtio devices), which KVM's dirty log does not see (api.rst 4.8 logs only
     * guest writes through the MMU).
     */
    @FunctionalInterface
    public interface WriteTracker {
        void touched(long gpa, long len);
    }

    private final Region[] regions;
    private volatile WriteTracker tracker;
    /** While RAM is being filled lazily: asked to bring in every view's pages before Java touches them. */
    private volatile LazyFill fill;

    public GuestMemory(List<Region> regions) {
        List<Region> sorted = new ArrayList<>(regions);
        sorted.sort(Comparator.comparingLong(Region::guestAddress));
        for (int i = 1; i < sorted.size(); i++) {
            if (sorted.get(i).guestAddress() < sorted.get(i - 1).end()) {
                throw new IllegalArgumentException("overlapping guest memory regions");
            }
        }
        this.regions = sorted.toArray(Region[]::new);
    }

    public List<Region> regions() {
        return List.of(regions);
    }

    /** Total bytes of guest RAM. */
    public long size() {
        long s = 0;
        for (Region r : regions) {
            s += r.size();
        }
        return s;
    }

    /** Whether [gpa, gpa+len) lies entirely inside one region. */
    public boolean isValid(long gpa, long len) {
        return find(gpa, len) != null;
    }

    private Region find(long gpa, long len) {
        for (Region r : regions) {
            if (r.contains(gpa, len)) {
                return r;
            }
        }
        return null;
    }

    /**
     * Starts (non-null) or stops (null) reporting writable accesses. Every {@link #slice} counts
     * as a write, because callers may write through the view (a device reading a request through
     * one makes migration resend a page it did not change: harmless; missing a write would not be).
     */
    public void trackWrites(WriteTracker t) {
        tracker = t;
    }

    /**
     * A view of [gpa, gpa+len) that can be used for bulk I/O without copies. The view can never
     * reach outside the range.
     */
    public MemorySegment slice(long gpa, long len) {
        MemorySegment s = view(gpa, len);
        WriteTracker t = tracker;
        if (t != null) {
            t.touched(gpa, len);
        }
        return s;
    }

    private MemorySegment view(long gpa, long len) {
        Region r = find(gpa, len);
        if (r == null) {
            throw new GuestMemoryException(gpa, len);
        }
        MemorySegment v = r.host().asSlice(gpa - r.guestAddress(), len);
        LazyFill f = fill;
        if (f != null) {
            f.prefault(v); // see LazyFill: a fault taken in Java code could hang the JVM
        }
        return v;
    }

    void startFill(LazyFill f) {
        fill = f;
    }

    void endFill(LazyFill f) {
        if (fill == f) {
            fill = null;
        }
    }

    /**
     * For code that reads all of RAM through {@link Region#host()} (snapshot, migration): waits
     * until a lazy fill has brought everything in. Throws when it failed: that RAM is gone.
     */
    public void awaitPresent() {
        LazyFill f = fill;
        if (f == null) {
            return;
        }
        f.awaitEnded();
        if (f.failure() != null) {
            throw new IllegalStateException("guest RAM is not all present: " + f.failure().getMessage());
        }
        if (!f.isComplete()) {
            throw new IllegalStateException("guest RAM is not all present: its fill was stopped");
        }
    }

    public void write(long gpa, byte[] src) {
        write(gpa, src, 0, src.length);
    }

    public void write(long gpa, byte[] src, int off, int len) {
        MemorySegment.copy(src, off, slice(gpa, len), ValueLayout.JAVA_BYTE, 0, len);
    }

    public void read(long gpa, byte[] dst) {
        read(gpa, dst, 0, dst.length);
    }

    public void read(long gpa, byte[] dst, int off, int len) {
        MemorySegment.copy(view(gpa, len), ValueLayout.JAVA_BYTE, 0, dst, off, len);
    }

    public byte[] read(long gpa, int len) {
        byte[] b = new byte[len];
        read(gpa, b);
        return b;
    }

    public void fill(long gpa, long len, byte value) {
        slice(gpa, len).fill(value);
    }

    public byte readByte(long gpa) {
        return view(gpa, 1).get(ValueLayout.JAVA_BYTE, 0);
    }

    public short readShort(long gpa) {
        return view(gpa, 2).get(SHORT, 0);
    }

    public int readInt(long gpa) {
        return view(gpa, 4).get(INT, 0);
    }

    public long readLong(long gpa) {
        return view(gpa, 8).get(LONG, 0);
    }

    public void writeByte(long gpa, byte v) {
        slice(gpa, 1).set(ValueLayout.JAVA_BYTE, 0, v);
    }

    public void writeShort(long gpa, short v) {
        slice(gpa, 2).set(SHORT, 0, v);
    }

    public void writeInt(long gpa, int v) {
        slice(gpa, 4).set(INT, 0, v);
    }

    public void writeLong(long gpa, long v) {
        slice(gpa, 8).set(LONG, 0, v);
    }
}
