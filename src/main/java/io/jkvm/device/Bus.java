package io.jkvm.device;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An address-range bus: port I/O ("pio") or MMIO ("mmio"). Devices own disjoint half-open ranges
 * {@code [base, base + length)} and see accesses with the offset relative to their base.
 *
 * <p><b>Concurrency.</b> Lookups run on every I/O or MMIO VM exit, from several vCPU threads at
 * once, so the read path takes no lock: the mapping is an immutable, sorted snapshot published
 * through a volatile field and searched by binary search. Registration (rare: setup, PCI BAR
 * remapping) copies the snapshot under a lock and swaps it in (copy-on-write). A vCPU racing
 * with a registration sees either the old or the new mapping, never a torn one.
 *
 * <p><b>Guest accesses never throw.</b> An access that is not entirely inside one device's range
 * (unmapped, straddling a device's end, negative address, or an access size other than 1, 2, 4
 * or 8) reads as all ones masked to the access size and a write is dropped, mirroring a PC bus
 * where nobody drives the data lines. Such accesses are logged at debug level, rate limited.
 * Values returned by {@link #read} are always masked to the access size, whatever the device
 * returns.
 */
public final class Bus {
    private static final Logger LOG = LoggerFactory.getLogger(Bus.class);

    /** One mapped range; returned by {@link #register} so the caller can unregister it. */
    public record Registration(Bus bus, long base, long length, BusDevice device) {
        public long end() {
            return base + length;
        }

        /** Removes this mapping; returns false if it was already removed. */
        public boolean unregister() {
            return bus.unregister(this);
        }

        @Override
        public String toString() {
            return bus.name + "[" + hex(base) + ", " + hex(base + length) + ") -> "
                    + device.getClass().getSimpleName();
        }
    }

    /** Immutable sorted mapping; {@code bases} is strictly increasing. */
    private record Snapshot(long[] bases, long[] lengths, Registration[] regs) {
        static final Snapshot EMPTY = new Snapshot(new long[0], new long[0], new Registration[0]);

        /** Index of the last range with base <= addr, or -1. */
        int floor(long addr) {
            int lo = 0;
            int hi = bases.length - 1;
            int found = -1;
            while (lo <= hi) {
                int mid = (lo + hi) >>> 1;
                if (bases[mid] <= addr) {
                    found = mid;
                    lo = mid + 1;
                } else {
                    hi = mid - 1;
                }
            }
            return found;
        }
    }

    private final String name;
    private final RateLimitedLog unmappedLog;
    private final Object writeLock = new Object();
    private volatile Snapshot snapshot = Snapshot.EMPTY;

    public Bus(String name) {
        this(name, new RateLimitedLog(LOG));
    }

    /** For tests or custom logging budgets. */
    public Bus(String name, RateLimitedLog unmappedLog) {
        this.name = Objects.requireNonNull(name, "name");
        this.unmappedLog = Objects.requireNonNull(unmappedLog, "unmappedLog");
    }

    public String name() {
        return name;
    }

    /**
     * Maps {@code dev} at {@code [base, base + length)}.
     *
     * @throws IllegalArgumentException if the length is not positive, the range is negative or
     *     overflows, or it overlaps an existing mapping (the message names both ranges)
     */
    public Registration register(long base, long length, BusDevice dev) {
        Objects.requireNonNull(dev, "dev");
        if (length <= 0) {
            throw new IllegalArgumentException(name + ": length must be positive for range at "
                    + hex(base) + " (got " + length + ")");
        }
        if (base < 0 || base > Long.MAX_VALUE - length) {
            throw new IllegalArgumentException(name + ": range [" + hex(base) + ", +" + hex(length)
                    + ") is outside the bus address space");
        }
        Registration reg = new Registration(this, base, length, dev);
        synchronized (writeLock) {
            Snapshot s = snapshot;
            int i = s.floor(base);
            // Only the neighbours can overlap because existing ranges are disjoint and sorted.
            if (i >= 0 && s.bases[i] + s.lengths[i] > base) {
                throw overlap(reg, s.regs[i]);
            }
            if (i + 1 < s.bases.length && s.bases[i + 1] < base + length) {
                throw overlap(reg, s.regs[i + 1]);
            }
            int n = s.bases.length;
            int at = i + 1;
            long[] bases = new long[n + 1];
            long[] lengths = new long[n + 1];
            Registration[] regs = new Registration[n + 1];
            System.arraycopy(s.bases, 0, bases, 0, at);
            System.arraycopy(s.lengths, 0, lengths, 0, at);
            System.arraycopy(s.regs, 0, regs, 0, at);
            bases[at] = base;
            lengths[at] = length;
            regs[at] = reg;
            System.arraycopy(s.bases, at, bases, at + 1, n - at);
            System.arraycopy(s.lengths, at, lengths, at + 1, n - at);
            System.arraycopy(s.regs, at, regs, at + 1, n - at);
            snapshot = new Snapshot(bases, lengths, regs);
        }
        return reg;
    }

    private IllegalArgumentException overlap(Registration wanted, Registration existing) {
        return new IllegalArgumentException(name + ": range [" + hex(wanted.base()) + ", "
                + hex(wanted.end()) + ") overlaps existing " + existing);
    }

    /** Removes exactly this registration; returns false if it is not (or no longer) mapped. */
    public boolean unregister(Registration reg) {
        synchronized (writeLock) {
            Snapshot s = snapshot;
            int i = s.floor(reg.base());
            if (i < 0 || s.regs[i] != reg) {
                return false;
            }
            snapshot = without(s, i);
            return true;
        }
    }

    /** Removes the mapping that starts at {@code base}; returns false if there is none. */
    public boolean unregister(long base) {
        synchronized (writeLock) {
            Snapshot s = snapshot;
            int i = s.floor(base);
            if (i < 0 || s.bases[i] != base) {
                return false;
            }
            snapshot = without(s, i);
            return true;
        }
    }

    private static Snapshot without(Snapshot s, int i) {
        int n = s.bases.length;
        long[] bases = new long[n - 1];
        long[] lengths = new long[n - 1];
        Registration[] regs = new Registration[n - 1];
        System.arraycopy(s.bases, 0, bases, 0, i);
        System.arraycopy(s.lengths, 0, lengths, 0, i);
        System.arraycopy(s.regs, 0, regs, 0, i);
        System.arraycopy(s.bases, i + 1, bases, i, n - i - 1);
        System.arraycopy(s.lengths, i + 1, lengths, i, n - i - 1);
        System.arraycopy(s.regs, i + 1, regs, i, n - i - 1);
        return new Snapshot(bases, lengths, regs);
    }

    /** The current mappings in address order (a snapshot). */
    public List<Registration> registrations() {
        return List.of(snapshot.regs);
    }

    /** The registration covering the whole access {@code [addr, addr + size)}, or null. */
    public Registration find(long addr, int size) {
        if (addr < 0 || size < 1) {
            return null;
        }
        Snapshot s = snapshot;
        int i = s.floor(addr);
        // addr - base <= length - size: the access ends inside the device (no overflow: all >= 0).
        if (i < 0 || addr - s.bases[i] > s.lengths[i] - size) {
            return null;
        }
        return s.regs[i];
    }

    /** Reads {@code size} bytes at {@code addr}; all ones (masked to size) if nothing answers. */
    public long read(long addr, int size) {
        long mask = sizeMask(size);
        Registration r = validSize(size) ? find(addr, size) : null;
        if (r == null) {
            unmappedLog.debug("{}: unmapped read addr={} size={}", name, hex(addr), size);
            return mask;
        }
        return r.device().read(addr - r.base(), size) & mask;
    }

    /** Writes the low {@code size} bytes of {@code value} at {@code addr}; dropped if unmapped. */
    public void write(long addr, int size, long value) {
        Registration r = validSize(size) ? find(addr, size) : null;
        if (r == null) {
            unmappedLog.debug("{}: unmapped write addr={} size={} value={}", name, hex(addr), size,
                    hex(value & sizeMask(size)));
            return;
        }
        r.device().write(addr - r.base(), size, value & sizeMask(size));
    }

    private static boolean validSize(int size) {
        return size == 1 || size == 2 || size == 4 || size == 8;
    }

    /** All ones in the low {@code size} bytes (clamped to 0..8 bytes). */
    public static long sizeMask(int size) {
        if (size >= 8) {
            return -1L;
        }
        if (size <= 0) {
            return 0L;
        }
        return (1L << (size * 8)) - 1;
    }

    static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }

    @Override
    public String toString() {
        List<String> parts = new ArrayList<>();
        for (Registration r : snapshot.regs) {
            parts.add(r.toString());
        }
        return "Bus(" + name + ") " + parts;
    }
}
