package io.jkvm.device.virtio;

import io.jkvm.memory.GuestMemory;

/**
 * The driver side of a split virtqueue in test memory: writes descriptors, publishes heads and
 * reads the used ring, like a guest driver would (virtio 1.2 §2.7).
 */
public final class DriverQueue {
    public final GuestMemory mem;
    public final int size;
    public final long desc;
    public final long avail;
    public final long used;
    private int availIdx;
    private int usedSeen;

    /** Rings laid out from {@code base}: desc table, avail ring, used ring (4-aligned). */
    public DriverQueue(GuestMemory mem, long base, int size) {
        this.mem = mem;
        this.size = size;
        this.desc = base;
        this.avail = base + 16L * size;
        this.used = (avail + 6 + 2L * size + 3) & ~3L;
    }

    /** Rings at the given addresses (a driver may put them anywhere, §2.7). */
    public DriverQueue(GuestMemory mem, long desc, long avail, long used, int size) {
        this.mem = mem;
        this.size = size;
        this.desc = desc;
        this.avail = avail;
        this.used = used;
    }

    /** Bytes the three rings occupy. */
    public long footprint() {
        return used + 6 + 8L * size - desc;
    }

    public static long footprint(int size) {
        long avail = 16L * size;
        long used = (avail + 6 + 2L * size + 3) & ~3L;
        return used + 6 + 8L * size;
    }

    public void configure(Virtqueue q, boolean eventIdx, boolean indirect) {
        q.reset();
        q.setSize(size);
        q.setAddresses(desc, avail, used);
        q.setFeatures(eventIdx, indirect);
        if (!q.enable()) {
            throw new IllegalStateException("test queue rejected");
        }
    }

    public void setDesc(int i, long addr, long len, int flags, int next) {
        setDesc(desc, i, addr, len, flags, next);
    }

    /** Writes descriptor {@code i} of the table at {@code table} (also for indirect tables). */
    public void setDesc(long table, int i, long addr, long len, int flags, int next) {
        long d = table + 16L * i;
        mem.writeLong(d, addr);
        mem.writeInt(d + 8, (int) len);
        mem.writeShort(d + 12, (short) flags);
        mem.writeShort(d + 14, (short) next);
    }

    public void publish(int head) {
        mem.writeShort(avail + 4 + 2L * (availIdx % size), (short) head);
        availIdx = (availIdx + 1) & 0xffff;
        mem.writeShort(avail + 2, (short) availIdx);
    }

    public void setAvailIdx(int idx) {
        availIdx = idx & 0xffff;
        mem.writeShort(avail + 2, (short) availIdx);
    }

    public void setAvailFlags(int flags) {
        mem.writeShort(avail, (short) flags);
    }

    public void setUsedEvent(int v) {
        mem.writeShort(avail + 4 + 2L * size, (short) v);
    }

    public int availEvent() {
        return mem.readShort(used + 4 + 8L * size) & 0xffff;
    }

    public int usedIdx() {
        return mem.readShort(used + 2) & 0xffff;
    }

    /** {id, len} of used element {@code i} (mod size). */
    public int[] usedElem(int i) {
        long e = used + 4 + 8L * (i % size);
        return new int[] {mem.readInt(e), mem.readInt(e + 4)};
    }

    /** The next used element not yet consumed, or null. */
    public int[] nextUsed() {
        if (usedSeen == usedIdx()) {
            return null;
        }
        int[] e = usedElem(usedSeen);
        usedSeen = (usedSeen + 1) & 0xffff;
        return e;
    }
}
