package io.jkvm.device.pci;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A 256-byte type-0 configuration header (PCI Local Bus Specification 3.0, §6.1-§6.2) with the
 * register semantics a guest relies on, for device models to build on.
 *
 * <p>Every byte has a write mask (bits the guest may change) and a write-1-to-clear mask; all
 * other bits are read-only, so guest writes can never corrupt identification, BAR type bits or
 * capability headers. Guest writes go through {@link #write}; device models change read-only
 * state with {@link #poke}.
 *
 * <p><b>BARs</b> (§6.2.5.1): only the address bits above the BAR's size are writable, which
 * yields the sizing protocol for free: writing all ones reads back the size mask with the
 * read-only type bits (I/O, 32/64-bit memory, prefetchable). Absent BARs read as 0.
 * The expansion ROM BAR is not implemented (reads 0).
 *
 * <p><b>Command</b> (§6.2.2): I/O space, memory space, bus master, parity error response, SERR#
 * and interrupt disable are writable. <b>Status</b>: the error bits are RW1C; bit 3 (interrupt
 * status) is set by the device via {@link #setInterruptStatus}; bit 4 (capabilities list) is set
 * once a capability is added. Cache line size and interrupt line are writable scratch bytes.
 *
 * <p><b>Capabilities</b> (§6.7) are appended from 0x40 on, dword aligned, linked from the
 * capability pointer at 0x34; their ID and next-pointer bytes are read-only.
 *
 * <p><b>Power-on image.</b> Everything set up through the construction-time methods
 * ({@link #addBar}, {@link #setBarAddress}, {@link #addCapability}, {@link #setInterruptPin},
 * {@link #setInterruptLine}) is part of the image {@link #reset} returns to. That makes the VMM's
 * "firmware" BAR and IRQ assignments survive a guest reset.
 *
 * <p>Thread-safe: all methods synchronize on this object. The {@link BarRemapListener} and the
 * {@link WriteHook} run with that lock held.
 */
public final class PciConfigSpace {
    public static final int SIZE = 256;
    public static final int DWORDS = SIZE / 4;

    public static final int VENDOR_ID = 0x00;
    public static final int DEVICE_ID = 0x02;
    public static final int COMMAND = 0x04;
    public static final int STATUS = 0x06;
    public static final int REVISION_ID = 0x08;
    public static final int CLASS_CODE = 0x09; // 3 bytes: prog-if, sub-class, base class
    public static final int CACHE_LINE_SIZE = 0x0c;
    public static final int LATENCY_TIMER = 0x0d;
    public static final int HEADER_TYPE = 0x0e;
    public static final int BIST = 0x0f;
    public static final int BAR0 = 0x10;
    public static final int SUBSYSTEM_VENDOR_ID = 0x2c;
    public static final int SUBSYSTEM_ID = 0x2e;
    public static final int EXPANSION_ROM = 0x30;
    public static final int CAPABILITIES_POINTER = 0x34;
    public static final int INTERRUPT_LINE = 0x3c;
    public static final int INTERRUPT_PIN = 0x3d;
    /** First byte after the predefined header, where capabilities go. */
    public static final int DEVICE_SPECIFIC = 0x40;

    public static final int COMMAND_IO = 1 << 0;
    public static final int COMMAND_MEMORY = 1 << 1;
    public static final int COMMAND_BUS_MASTER = 1 << 2;
    public static final int COMMAND_PARITY_ERROR_RESPONSE = 1 << 6;
    public static final int COMMAND_SERR = 1 << 8;
    public static final int COMMAND_INTX_DISABLE = 1 << 10;
    static final int COMMAND_WRITABLE = COMMAND_IO | COMMAND_MEMORY | COMMAND_BUS_MASTER
            | COMMAND_PARITY_ERROR_RESPONSE | COMMAND_SERR | COMMAND_INTX_DISABLE;

    public static final int STATUS_INTERRUPT = 1 << 3;
    public static final int STATUS_CAPABILITIES = 1 << 4;
    /** Master data parity error, signaled/received target abort, received master abort, SERR, parity. */
    static final int STATUS_RW1C = (1 << 8) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 15);

    /** Called after a guest config write, e.g. for a device model to react to MSI-X enable. */
    @FunctionalInterface
    public interface WriteHook {
        /** {@code offset} and {@code size} of the (clamped) guest write that just took effect. */
        void afterWrite(int offset, int size);
    }

    private final byte[] data = new byte[SIZE];
    private final byte[] powerOn = new byte[SIZE];
    private final byte[] writable = new byte[SIZE];
    private final byte[] clearable = new byte[SIZE];
    private final PciBar[] bars = new PciBar[PciBar.COUNT];
    /** Index of the 64-bit BAR owning register i as its upper half, or -1. */
    private final int[] upperHalfOf = {-1, -1, -1, -1, -1, -1};
    private final long[] mapped = new long[PciBar.COUNT];
    private int lastCapability;
    private int nextCapability = DEVICE_SPECIFIC;
    private BarRemapListener listener = BarRemapListener.NONE;
    private WriteHook writeHook;

    /** A single-function type-0 header with the given identity. */
    public PciConfigSpace(PciId id) {
        Arrays.fill(mapped, PciBar.UNMAPPED);
        init(VENDOR_ID, 2, id.vendorId());
        init(DEVICE_ID, 2, id.deviceId());
        init(REVISION_ID, 1, id.revision());
        init(CLASS_CODE, 3, id.classCode());
        init(HEADER_TYPE, 1, 0x00);
        init(SUBSYSTEM_VENDOR_ID, 2, id.subsystemVendorId());
        init(SUBSYSTEM_ID, 2, id.subsystemId());
        setMask(writable, COMMAND, 2, COMMAND_WRITABLE);
        setMask(clearable, STATUS, 2, STATUS_RW1C);
        setMask(writable, CACHE_LINE_SIZE, 1, 0xff);
        setMask(writable, INTERRUPT_LINE, 1, 0xff);
    }

    // ------------------------------------------------------------------ construction (VMM side)

    /** Declares a BAR; its address starts at 0 until {@link #setBarAddress} or the guest sets it. */
    public synchronized void addBar(PciBar bar) {
        Objects.requireNonNull(bar, "bar");
        for (int r = bar.index(); r < bar.index() + bar.registers(); r++) {
            if (bars[r] != null || upperHalfOf[r] >= 0) {
                throw new IllegalStateException("BAR register " + r + " is already in use");
            }
        }
        bars[bar.index()] = bar;
        if (bar.kind() == PciBar.Kind.MEMORY64) {
            upperHalfOf[bar.index() + 1] = bar.index();
        }
        long mask = bar.addressMask();
        setMask(writable, bar.offset(), 4, (int) mask);
        init(bar.offset(), 4, bar.typeBits());
        if (bar.registers() == 2) {
            setMask(writable, bar.offset() + 4, 4, (int) (mask >>> 32));
            init(bar.offset() + 4, 4, 0);
        }
    }

    /**
     * Firmware-style BAR assignment (kept across {@link #reset}). The address is truncated to
     * what the BAR can hold (aligned to its size; 32 bits unless 64-bit).
     */
    public synchronized void setBarAddress(int index, long address) {
        PciBar bar = requireBar(index);
        long a = address & bar.addressMask();
        init(bar.offset(), 4, (int) a | bar.typeBits());
        if (bar.registers() == 2) {
            init(bar.offset() + 4, 4, (int) (a >>> 32));
        }
        updateMappings();
    }

    /** Appends a capability without guest-writable bytes; returns its config-space offset. */
    public synchronized int addCapability(int capabilityId, byte[] body) {
        return addCapability(capabilityId, body, new byte[body.length]);
    }

    /**
     * Appends a capability: ID byte, next pointer (both read-only), then {@code body}, whose
     * bits set in {@code bodyWriteMask} the guest may write. Returns its config-space offset
     * (dword aligned, at or after 0x40).
     *
     * @throws IllegalStateException if it does not fit in the 256-byte space
     */
    public synchronized int addCapability(int capabilityId, byte[] body, byte[] bodyWriteMask) {
        if (capabilityId < 0 || capabilityId > 0xff) {
            throw new IllegalArgumentException("capability ID must be a byte");
        }
        if (bodyWriteMask.length != body.length) {
            throw new IllegalArgumentException("write mask length differs from body length");
        }
        int at = nextCapability;
        int len = 2 + body.length;
        if (at + len > SIZE) {
            throw new IllegalStateException("capability of " + len + " bytes does not fit at 0x"
                    + Integer.toHexString(at));
        }
        init(at, 1, capabilityId);
        init(at + 1, 1, 0);
        for (int i = 0; i < body.length; i++) {
            init(at + 2 + i, 1, body[i]);
            writable[at + 2 + i] = bodyWriteMask[i];
        }
        if (lastCapability == 0) {
            init(CAPABILITIES_POINTER, 1, at);
            init(STATUS, 2, get(STATUS, 2) | STATUS_CAPABILITIES);
        } else {
            init(lastCapability + 1, 1, at);
        }
        lastCapability = at;
        nextCapability = (at + len + 3) & ~3;
        return at;
    }

    /** Interrupt pin: 0 = none, 1..4 = INTA#..INTD# (read-only to the guest). */
    public synchronized void setInterruptPin(int pin) {
        if (pin < 0 || pin > 4) {
            throw new IllegalArgumentException("interrupt pin must be 0..4");
        }
        init(INTERRUPT_PIN, 1, pin);
    }

    /** Firmware-style interrupt line routing value (the guest may overwrite it). */
    public synchronized void setInterruptLine(int line) {
        init(INTERRUPT_LINE, 1, line & 0xff);
    }

    public void setBarRemapListener(BarRemapListener l) {
        synchronized (this) {
            listener = l == null ? BarRemapListener.NONE : l;
        }
    }

    public synchronized void setWriteHook(WriteHook hook) {
        writeHook = hook;
    }

    // ------------------------------------------------------------------ guest side

    /** Dword {@code index} (0..63) of the space; other indices read 0 (no extended space). */
    public synchronized int readDword(int index) {
        if (index < 0 || index >= DWORDS) {
            return 0;
        }
        return get(index * 4, 4);
    }

    /**
     * A guest write of the low {@code size} bytes of {@code value} at byte {@code offset},
     * honouring write and RW1C masks. Bytes outside the space are ignored; never throws.
     */
    public synchronized void write(int offset, int size, int value) {
        int n = Math.max(0, Math.min(size, 4));
        boolean any = false;
        for (int i = 0; i < n; i++) {
            int off = offset + i;
            if (off < 0 || off >= SIZE) {
                continue;
            }
            int v = (value >>> (8 * i)) & 0xff;
            int old = data[off] & 0xff;
            int w = writable[off] & 0xff;
            int c = clearable[off] & 0xff;
            int nv = (old & ~w) | (v & w);
            nv &= ~(v & c);
            data[off] = (byte) nv;
            any = true;
        }
        if (!any) {
            return;
        }
        updateMappings();
        if (writeHook != null) {
            int start = Math.max(0, offset);
            writeHook.afterWrite(start, Math.min(SIZE, offset + n) - start);
        }
    }

    /** Returns to the power-on image; BAR mappings are withdrawn (decode is disabled). */
    public synchronized void reset() {
        System.arraycopy(powerOn, 0, data, 0, SIZE);
        updateMappings();
    }

    // ------------------------------------------------------------------ snapshot

    /** The current 256 bytes, for snapshots (restore with {@link #restoreBytes}). */
    public synchronized byte[] bytes() {
        return data.clone();
    }

    /**
     * Restores bytes from {@link #bytes()} of a function built the same way. Only bits the guest
     * could have changed (writable, RW1C, and the interrupt status bit the device drives) may
     * differ from this function's power-on image: identity, BAR type bits and capability
     * headers must match, so a snapshot of another device (or a hostile one) is refused with
     * IllegalArgumentException naming the first differing byte. BAR mappings follow at once.
     */
    public synchronized void restoreBytes(byte[] saved) {
        if (saved == null || saved.length != SIZE) {
            throw new IllegalArgumentException("PCI config space must be " + SIZE + " bytes, got "
                    + (saved == null ? "none" : saved.length));
        }
        for (int i = 0; i < SIZE; i++) {
            int free = (writable[i] | clearable[i]) & 0xff;
            if (i == STATUS) {
                free |= STATUS_INTERRUPT;
            }
            if (((saved[i] ^ powerOn[i]) & ~free & 0xff) != 0) {
                throw new IllegalArgumentException(String.format(
                        "PCI config byte 0x%02x is 0x%02x, but its read-only bits must be those of 0x%02x",
                        i, saved[i] & 0xff, powerOn[i] & 0xff));
            }
        }
        System.arraycopy(saved, 0, data, 0, SIZE);
        updateMappings();
    }

    // ------------------------------------------------------------------ device-model side

    /** Reads {@code size} (1..4) bytes at {@code offset} without side effects; 0 outside. */
    public synchronized int read(int offset, int size) {
        if (offset < 0 || size < 1 || size > 4 || offset + size > SIZE) {
            return 0;
        }
        return get(offset, size);
    }

    /** Device-side write of any bits (read-only ones too), not part of the power-on image. */
    public synchronized void poke(int offset, int size, int value) {
        if (offset < 0 || size < 1 || size > 4 || offset + size > SIZE) {
            throw new IllegalArgumentException("poke outside config space: " + offset + "+" + size);
        }
        put(data, offset, size, value);
        updateMappings();
    }

    public synchronized int command() {
        return get(COMMAND, 2);
    }

    public synchronized int status() {
        return get(STATUS, 2);
    }

    /** Status bit 3: whether the function is asserting INTx# (regardless of INTx disable). */
    public synchronized void setInterruptStatus(boolean asserted) {
        int s = get(STATUS, 2);
        put(data, STATUS, 2, asserted ? s | STATUS_INTERRUPT : s & ~STATUS_INTERRUPT);
    }

    public synchronized boolean interruptDisabled() {
        return (command() & COMMAND_INTX_DISABLE) != 0;
    }

    public synchronized boolean busMasterEnabled() {
        return (command() & COMMAND_BUS_MASTER) != 0;
    }

    public synchronized Optional<PciBar> bar(int index) {
        return index >= 0 && index < PciBar.COUNT ? Optional.ofNullable(bars[index]) : Optional.empty();
    }

    public synchronized List<PciBar> bars() {
        List<PciBar> out = new ArrayList<>();
        for (PciBar b : bars) {
            if (b != null) {
                out.add(b);
            }
        }
        return List.copyOf(out);
    }

    /** The address programmed into BAR {@code index}, whether or not it decodes. */
    public synchronized long barAddress(int index) {
        return programmedAddress(requireBar(index));
    }

    /** The address BAR {@code index} currently decodes, or {@link PciBar#UNMAPPED}. */
    public synchronized long mappedAddress(int index) {
        requireBar(index);
        return mapped[index];
    }

    // ------------------------------------------------------------------ internals

    private PciBar requireBar(int index) {
        if (index < 0 || index >= PciBar.COUNT || bars[index] == null) {
            throw new IllegalArgumentException("no BAR " + index);
        }
        return bars[index];
    }

    private long programmedAddress(PciBar bar) {
        long lo = get(bar.offset(), 4) & 0xffff_ffffL;
        long a = lo;
        if (bar.registers() == 2) {
            a |= (get(bar.offset() + 4, 4) & 0xffff_ffffL) << 32;
        }
        return a & bar.addressMask();
    }

    private void updateMappings() {
        int cmd = get(COMMAND, 2);
        for (PciBar bar : bars) {
            if (bar == null) {
                continue;
            }
            int enable = bar.kind() == PciBar.Kind.IO ? COMMAND_IO : COMMAND_MEMORY;
            long now = (cmd & enable) != 0 ? programmedAddress(bar) : PciBar.UNMAPPED;
            long old = mapped[bar.index()];
            if (now != old) {
                mapped[bar.index()] = now;
                listener.onBarRemap(bar, old, now);
            }
        }
    }

    private void init(int offset, int size, int value) {
        put(data, offset, size, value);
        put(powerOn, offset, size, value);
    }

    private int get(int offset, int size) {
        int v = 0;
        for (int i = 0; i < size; i++) {
            v |= (data[offset + i] & 0xff) << (8 * i);
        }
        return v;
    }

    private static void put(byte[] a, int offset, int size, int value) {
        for (int i = 0; i < size; i++) {
            a[offset + i] = (byte) (value >>> (8 * i));
        }
    }

    private static void setMask(byte[] mask, int offset, int size, int value) {
        put(mask, offset, size, value);
    }
}
