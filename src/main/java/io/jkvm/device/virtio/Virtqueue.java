package io.jkvm.device.virtio;

import io.jkvm.memory.GuestMemory;
import io.jkvm.memory.GuestMemoryException;
import io.jkvm.snapshot.BoundedReader;
import io.jkvm.snapshot.StateWriter;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.invoke.VarHandle;
import java.util.ArrayList;
import java.util.List;

/**
 * The device side of one split virtqueue (virtio 1.2 §2.7), shared by every jkvm device.
 *
 * <p><b>Layout</b> (§2.7): descriptor table of 16-byte {@code {le64 addr, le32 len, le16 flags,
 * le16 next}}; driver area ("avail") {@code {le16 flags, le16 idx, le16 ring[size], le16
 * used_event}}; device area ("used") {@code {le16 flags, le16 idx, {le32 id, le32 len}[size],
 * le16 avail_event}}.
 *
 * <p><b>Everything the driver wrote is hostile.</b> The transport configures size and addresses
 * and calls {@link #enable}, which checks alignment (§2.7: 16/2/4) and that all three areas are
 * guest RAM. {@link #pop} then distinguishes two kinds of bad input:
 * <ul>
 *   <li><b>Queue-fatal</b>, thrown as {@link VirtqueueException} (the transport then sets
 *       DEVICE_NEEDS_RESET, §2.1.2, and the queue returns nothing until {@link #reset}): the
 *       avail index more than {@code size} ahead of the last one seen; a head or next index
 *       &ge; the table size; a loop (more descriptors than the queue size, §2.7.5.3.1 / §2.7.13.3);
 *       INDIRECT without the negotiated feature; an indirect descriptor that also has NEXT, or
 *       whose table is empty, not a multiple of 16 bytes, longer than the queue size or outside
 *       RAM, or that appears inside an indirect table (§2.7.5.3.1); ring memory not in RAM.
 *   <li><b>Request-level</b>, where the ring itself is still consistent: a buffer (address +
 *       length) not entirely in guest RAM, including 64-bit wrap-around; a readable descriptor
 *       after a writable one (§2.7.4.2); more than {@link #MAX_CHAIN_BYTES} in total. Such a chain
 *       is returned to the used ring at once with length 0, its buffers untouched, and counted in
 *       {@link #rejectedChains}; the device never sees it.
 * </ul>
 *
 * <p><b>Ordering</b> (§2.7.13, §2.7.7.2): an acquire fence after reading avail idx so ring
 * entries and descriptors are read after it; a release fence before publishing used idx so
 * used elements and written buffers are visible first; a full fence between publishing used
 * idx / avail_event and reading the driver's suppression fields.
 *
 * <p>Not thread-safe: one device I/O thread drives a queue; the transport serialises
 * configuration and reset against it.
 */
public final class Virtqueue {
    private static final Logger LOG = LoggerFactory.getLogger(Virtqueue.class);

    /** Largest queue size a split virtqueue can have (§2.7: Queue Size ≤ 32768). */
    public static final int MAX_SIZE = 32768;
    /** Upper bound on a chain's total bytes; anything larger is a hostile or broken request. */
    public static final long MAX_CHAIN_BYTES = 256L << 20;

    static final int DESC_SIZE = 16;
    static final int F_NEXT = 1;
    static final int F_WRITE = 2;
    static final int F_INDIRECT = 4;
    /** avail.flags: the driver does not want used-buffer notifications (§2.7.7). */
    static final int AVAIL_F_NO_INTERRUPT = 1;

    private final GuestMemory memory;
    private final int index;
    private final int maxSize;

    private int size;
    private long descAddr;
    private long availAddr;
    private long usedAddr;
    private boolean eventIdx;
    private boolean indirect;
    private boolean ready;
    private boolean broken;

    private int lastAvail;
    private int usedIdx;
    private int signalledUsed;
    private boolean signalledValid;
    private long rejected;
    /** The last call was a {@link #pop} that returned a chain, which {@link #unpop} may put back. */
    private boolean mayUnpop;

    public Virtqueue(GuestMemory memory, int index, int maxSize) {
        if (maxSize < 1 || maxSize > MAX_SIZE || Integer.bitCount(maxSize) != 1) {
            throw new IllegalArgumentException("queue size must be a power of two in 1..32768: " + maxSize);
        }
        this.memory = memory;
        this.index = index;
        this.maxSize = maxSize;
        this.size = maxSize;
    }

    public int index() {
        return index;
    }

    public int maxSize() {
        return maxSize;
    }

    public int size() {
        return size;
    }

    /**
     * Driver's queue_size write (§4.1.4.3): sizes that are not a power of two in 1..max are
     * ignored (the old value reads back). Returns whether it was accepted.
     */
    public boolean setSize(int s) {
        if (ready || s < 1 || s > maxSize || Integer.bitCount(s) != 1) {
            return false;
        }
        size = s;
        return true;
    }

    public void setAddresses(long desc, long avail, long used) {
        if (!ready) {
            descAddr = desc;
            availAddr = avail;
            usedAddr = used;
        }
    }

    public long descAddr() {
        return descAddr;
    }

    public long availAddr() {
        return availAddr;
    }

    public long usedAddr() {
        return usedAddr;
    }

    public void setFeatures(boolean eventIdx, boolean indirect) {
        this.eventIdx = eventIdx;
        this.indirect = indirect;
    }

    /**
     * Makes the queue live. Returns false, leaving it disabled, if the areas are misaligned or
     * not entirely inside guest RAM; the caller treats that as a driver error.
     */
    public boolean enable() {
        long s = size;
        boolean ok = (descAddr & 15) == 0 && (availAddr & 1) == 0 && (usedAddr & 3) == 0
                && memory.isValid(descAddr, DESC_SIZE * s)
                && memory.isValid(availAddr, 6 + 2 * s)
                && memory.isValid(usedAddr, 6 + 8 * s);
        if (!ok) {
            LOG.debug("queue {}: rejected enable: desc={} avail={} used={} size={}", index,
                    Long.toHexString(descAddr), Long.toHexString(availAddr), Long.toHexString(usedAddr), size);
            return false;
        }
        ready = true;
        broken = false;
        lastAvail = 0;
        usedIdx = 0;
        signalledUsed = 0;
        signalledValid = false;
        mayUnpop = false;
        return true;
    }

    public boolean isReady() {
        return ready;
    }

    public boolean isBroken() {
        return broken;
    }

    /** Back to the power-on state (§2.4: reset forgets all queue state). */
    public void reset() {
        ready = false;
        broken = false;
        size = maxSize;
        descAddr = availAddr = usedAddr = 0;
        eventIdx = indirect = false;
        lastAvail = usedIdx = signalledUsed = 0;
        signalledValid = false;
        mayUnpop = false;
    }

    /** Chains returned with length 0 because their buffers were invalid (see class comment). */
    public long rejectedChains() {
        return rejected;
    }

    /** The avail index the device will read next (for diagnostics and tests). */
    public int lastAvailIndex() {
        return lastAvail;
    }

    public int usedIndex() {
        return usedIdx;
    }

    /** Where the device is in the rings (snapshots): every index is a free-running u16 (§2.7.6, §2.7.8). */
    public record Position(int lastAvail, int usedIdx, int signalledUsed, boolean signalledValid) {
        public Position {
            for (int v : new int[] {lastAvail, usedIdx, signalledUsed}) {
                if (v < 0 || v > 0xffff) {
                    throw new IllegalArgumentException("virtqueue index " + v + " is not a u16");
                }
            }
        }

        /**
         * Both transports' snapshot layout of an enabled queue's position (VirtioPciState,
         * VirtioMmioState): u16 last_avail_idx, u16 used_idx, u16 signalled used idx, u8
         * signalled valid. Fixed: snapshots and migration streams already written hold it.
         */
        public void write(StateWriter w) {
            w.u16(lastAvail).u16(usedIdx).u16(signalledUsed).bool(signalledValid);
        }

        /** Reads what {@link #write} wrote; {@code queue} names the queue in refusals ("queue 2"). */
        public static Position read(BoundedReader r, String queue) {
            return new Position(r.u16(queue + " last avail idx"), r.u16(queue + " used idx"),
                    r.u16(queue + " signalled used idx"), r.bool(queue + " signalled valid"));
        }
    }

    public Position position() {
        return new Position(lastAvail, usedIdx, signalledUsed, signalledValid);
    }

    /**
     * Puts an enabled queue back at a saved position. Refused (IllegalArgumentException) unless it
     * is consistent with the rings in guest RAM: the used idx the driver sees must be the saved
     * one, and neither the chains the device holds (lastAvail - usedIdx) nor those waiting
     * (avail idx - lastAvail) may exceed the queue size.
     */
    public void restorePosition(Position p) {
        if (!ready) {
            throw new IllegalStateException("queue " + index + " is not enabled");
        }
        int ringUsed;
        int ringAvail;
        try {
            ringUsed = memory.readShort(usedAddr + 2) & 0xffff;
            ringAvail = memory.readShort(availAddr + 2) & 0xffff;
        } catch (GuestMemoryException e) {
            throw new IllegalArgumentException("queue " + index + ": rings outside guest RAM");
        }
        if (ringUsed != p.usedIdx()) {
            throw new IllegalArgumentException("queue " + index + ": used idx " + p.usedIdx()
                    + " differs from the used ring's " + ringUsed + " in guest memory");
        }
        if (((p.lastAvail() - p.usedIdx()) & 0xffff) > size) {
            throw new IllegalArgumentException("queue " + index + ": last avail idx " + p.lastAvail()
                    + " is more than the queue size " + size + " ahead of used idx " + p.usedIdx());
        }
        if (((ringAvail - p.lastAvail()) & 0xffff) > size) {
            throw new IllegalArgumentException("queue " + index + ": avail idx " + ringAvail
                    + " is more than the queue size " + size + " ahead of last avail idx " + p.lastAvail());
        }
        mayUnpop = false;
        lastAvail = p.lastAvail();
        usedIdx = p.usedIdx();
        signalledUsed = p.signalledUsed();
        signalledValid = p.signalledValid();
    }

    /**
     * Parses the chain at {@code head} again (a device restoring chains it held when the
     * snapshot was taken); null if its buffers are invalid.
     *
     * @throws IllegalArgumentException for a head or chain the queue cannot hold
     */
    public DescriptorChain chainAt(int head) {
        if (!ready || head < 0 || head >= size) {
            throw new IllegalArgumentException("queue " + index + ": head " + head + " outside the queue (size " + size + ")");
        }
        try {
            return parse(head);
        } catch (VirtqueueException | GuestMemoryException e) {
            broken = false;
            throw new IllegalArgumentException(e.getMessage());
        }
    }

    /**
     * The next available chain, or null if there is none (or the queue is not live).
     *
     * @throws VirtqueueException if the driver corrupted the queue; the queue is then broken
     */
    public DescriptorChain pop() throws VirtqueueException {
        mayUnpop = false;
        while (ready && !broken) {
            try {
                int availIdx = memory.readShort(availAddr + 2) & 0xffff;
                // §2.7.13.3: the ring entry must be read after the index that published it.
                VarHandle.acquireFence();
                int pending = (availIdx - lastAvail) & 0xffff;
                if (pending == 0) {
                    return null;
                }
                if (pending > size) {
                    throw fatal("avail idx " + availIdx + " is " + pending + " entries ahead of " + lastAvail);
                }
                int head = memory.readShort(availAddr + 4 + 2L * (lastAvail & (size - 1))) & 0xffff;
                lastAvail = (lastAvail + 1) & 0xffff;
                if (head >= size) {
                    throw fatal("head index " + head + " >= queue size " + size);
                }
                DescriptorChain chain = parse(head);
                if (chain != null) {
                    mayUnpop = true;
                    return chain;
                }
                rejected++;
                addUsed(head, 0);
            } catch (GuestMemoryException e) {
                // enable() validated the rings, so this is unexpected; still never escape.
                throw fatal("ring access outside guest RAM: " + e.getMessage());
            }
        }
        return null;
    }

    /**
     * Puts the chain the previous {@link #pop} returned back on the available ring, unconsumed: the
     * next pop parses it again from guest memory. A device that may not serve a request yet (a
     * rate limiter refused it) leaves it with the driver this way, so nothing about it is device
     * state: a snapshot taken meanwhile simply has it available. Nothing in the spec bounds how
     * long a device may hold an available buffer before returning it through the used ring
     * (§2.7.6, §2.7.8).
     *
     * @throws IllegalStateException unless the last call on this queue was a pop that returned a chain
     */
    public void unpop() {
        if (!mayUnpop) {
            throw new IllegalStateException("queue " + index + ": unpop without a chain just popped");
        }
        mayUnpop = false;
        lastAvail = (lastAvail - 1) & 0xffff;
    }

    /** Walks a chain; null means request-level invalid (already logged). */
    private DescriptorChain parse(int head) throws VirtqueueException {
        List<GuestBuffer> readable = new ArrayList<>();
        List<GuestBuffer> writable = new ArrayList<>();
        String defect = null;
        long total = 0;

        long table = descAddr;
        int tableSize = size;
        int idx = head;
        int visited = 0;
        boolean inIndirect = false;
        boolean seenWritable = false;
        while (true) {
            if (idx >= tableSize) {
                throw fatal("descriptor index " + idx + " >= table size " + tableSize);
            }
            if (++visited > tableSize) {
                throw fatal("descriptor chain from head " + head + " loops or exceeds " + tableSize + " descriptors");
            }
            long d = table + (long) DESC_SIZE * idx;
            long addr = memory.readLong(d);
            long len = memory.readInt(d + 8) & 0xffff_ffffL;
            int flags = memory.readShort(d + 12) & 0xffff;
            int next = memory.readShort(d + 14) & 0xffff;

            if ((flags & F_INDIRECT) != 0) {
                if (!indirect) {
                    throw fatal("INDIRECT descriptor without VIRTIO_F_INDIRECT_DESC");
                }
                if (inIndirect) {
                    throw fatal("indirect descriptor inside an indirect table");
                }
                if ((flags & F_NEXT) != 0) {
                    throw fatal("indirect descriptor with NEXT set");
                }
                if (len == 0 || len % DESC_SIZE != 0 || len / DESC_SIZE > size) {
                    throw fatal("indirect table length " + len + " invalid for queue size " + size);
                }
                if (!memory.isValid(addr, len)) {
                    throw fatal("indirect table at 0x" + Long.toHexString(addr) + " is not guest RAM");
                }
                table = addr;
                tableSize = (int) (len / DESC_SIZE);
                idx = 0;
                visited = 0;
                inIndirect = true;
                continue;
            }

            boolean write = (flags & F_WRITE) != 0;
            if (defect == null) {
                if (!memory.isValid(addr, len)) {
                    defect = "buffer [0x" + Long.toHexString(addr) + ", +0x" + Long.toHexString(len) + ") is not guest RAM";
                } else if ((total += len) > MAX_CHAIN_BYTES) {
                    defect = "chain longer than " + MAX_CHAIN_BYTES + " bytes";
                } else if (!write && seenWritable) {
                    defect = "device-readable descriptor after a device-writable one";
                } else if (len > 0) {
                    (write ? writable : readable).add(new GuestBuffer(addr, (int) len));
                }
            }
            seenWritable |= write;
            if ((flags & F_NEXT) == 0) {
                break;
            }
            idx = next;
        }
        if (defect != null) {
            LOG.debug("queue {}: rejected chain at head {}: {}", index, head, defect);
            return null;
        }
        return new DescriptorChain(memory, head, readable, writable);
    }

    /**
     * Returns a chain to the driver with {@code len} bytes written into its writable buffers
     * (§2.7.8). Publishes the used index at once. Heads outside the queue are ignored.
     */
    public void addUsed(int head, int len) {
        mayUnpop = false;
        if (!ready || head < 0 || head >= size) {
            return;
        }
        try {
            long e = usedAddr + 4 + 8L * (usedIdx & (size - 1));
            memory.writeInt(e, head);
            memory.writeInt(e + 4, len);
            // §2.7.8.2: the element (and the data written into the buffers) before the index.
            VarHandle.releaseFence();
            usedIdx = (usedIdx + 1) & 0xffff;
            memory.writeShort(usedAddr + 2, (short) usedIdx);
        } catch (GuestMemoryException e) {
            broken = true; // validated at enable; unreachable unless RAM shrank
        }
    }

    /**
     * Whether the driver wants a used-buffer notification for what was added since the last
     * call (§2.7.7.2 without, §2.7.10 with VIRTIO_F_EVENT_IDX). Call after a batch of
     * {@link #addUsed}; false if nothing new was used.
     */
    public boolean needsInterrupt() {
        if (!ready) {
            return false;
        }
        // The used idx store must be visible before we read the driver's suppression fields.
        VarHandle.fullFence();
        int old = signalledUsed;
        int now = usedIdx;
        if (now == old) {
            return false; // nothing used since the last decision (a wrap of 65536 is impossible)
        }
        signalledUsed = now;
        try {
            if (eventIdx) {
                boolean valid = signalledValid;
                signalledValid = true;
                if (!valid) {
                    return true;
                }
                int event = memory.readShort(availAddr + 4 + 2L * size) & 0xffff;
                // vring_need_event: notify if used_event lies in (old, now].
                return ((now - event - 1) & 0xffff) < ((now - old) & 0xffff);
            }
            signalledValid = true;
            return (memory.readShort(availAddr) & AVAIL_F_NO_INTERRUPT) == 0;
        } catch (GuestMemoryException e) {
            return true;
        }
    }

    /**
     * Re-arms driver notifications after the device drained the queue and reports whether
     * buffers arrived in the meantime (then the caller must pop again). With EVENT_IDX this
     * publishes avail_event = the next index we will read (§2.7.10); the full fence orders
     * that store before re-reading avail idx, closing the race with a driver that checked
     * avail_event just before we updated it.
     */
    public boolean rearm() {
        if (!ready || broken) {
            return false;
        }
        try {
            if (eventIdx) {
                memory.writeShort(usedAddr + 4 + 8L * size, (short) lastAvail);
            }
            VarHandle.fullFence();
            return (memory.readShort(availAddr + 2) & 0xffff) != lastAvail;
        } catch (GuestMemoryException e) {
            return false;
        }
    }

    private VirtqueueException fatal(String why) {
        broken = true;
        return new VirtqueueException("queue " + index + ": " + why);
    }
}
