package io.jkvm.device.pci;

/**
 * Static description of one Base Address Register: which BAR, what it decodes and how big it is
 * (PCI Local Bus Specification 3.0, §6.2.5.1 "Address Maps").
 *
 * <p>Sizes are powers of two: I/O BARs 4..256 bytes, memory BARs at least 16 bytes (32-bit
 * memory BARs at most 2 GiB). A 64-bit memory BAR occupies {@code index} and {@code index + 1}.
 */
public record PciBar(int index, Kind kind, long size, boolean prefetchable) {
    /** What a BAR decodes; the low bits of the register encode it. */
    public enum Kind {
        /** I/O space; register bit 0 = 1. */
        IO,
        /** Memory space anywhere in the low 4 GiB; bits 2:1 = 00. */
        MEMORY32,
        /** Memory space anywhere in 64-bit space; bits 2:1 = 10, uses two registers. */
        MEMORY64;

        public boolean isMemory() {
            return this != IO;
        }
    }

    /** Address reported by mapping callbacks when the BAR does not decode (decode disabled). */
    public static final long UNMAPPED = -1L;

    public static final int COUNT = 6;

    public PciBar {
        if (kind == null) {
            throw new IllegalArgumentException("BAR kind is required");
        }
        int last = kind == Kind.MEMORY64 ? COUNT - 2 : COUNT - 1;
        if (index < 0 || index > last) {
            throw new IllegalArgumentException("BAR index " + index + " out of range for " + kind);
        }
        if (Long.bitCount(size) != 1) {
            throw new IllegalArgumentException("BAR size must be a power of two: " + size);
        }
        switch (kind) {
            case IO -> {
                if (size < 4 || size > 256) {
                    throw new IllegalArgumentException("I/O BAR size must be 4..256 bytes: " + size);
                }
                if (prefetchable) {
                    throw new IllegalArgumentException("I/O BARs cannot be prefetchable");
                }
            }
            case MEMORY32 -> {
                if (size < 16 || size > (1L << 31)) {
                    throw new IllegalArgumentException("32-bit memory BAR size must be 16 B..2 GiB: " + size);
                }
            }
            case MEMORY64 -> {
                if (size < 16 || size > (1L << 62)) {
                    throw new IllegalArgumentException("64-bit memory BAR size out of range: " + size);
                }
            }
        }
    }

    public static PciBar io(int index, long size) {
        return new PciBar(index, Kind.IO, size, false);
    }

    public static PciBar memory32(int index, long size, boolean prefetchable) {
        return new PciBar(index, Kind.MEMORY32, size, prefetchable);
    }

    public static PciBar memory64(int index, long size, boolean prefetchable) {
        return new PciBar(index, Kind.MEMORY64, size, prefetchable);
    }

    /** Number of 32-bit BAR registers used (2 for a 64-bit BAR). */
    public int registers() {
        return kind == Kind.MEMORY64 ? 2 : 1;
    }

    /** Config-space offset of the (low) register. */
    public int offset() {
        return PciConfigSpace.BAR0 + 4 * index;
    }

    /** The read-only type bits in the low dword (§6.2.5.1). */
    int typeBits() {
        return switch (kind) {
            case IO -> 0x1;
            case MEMORY32 -> prefetchable ? 0x8 : 0x0;
            case MEMORY64 -> 0x4 | (prefetchable ? 0x8 : 0x0);
        };
    }

    /** Writable address bits across the whole BAR (64 bits for MEMORY64). */
    long addressMask() {
        long lowBits = kind == Kind.IO ? 0x3 : 0xf;
        long mask = ~(size - 1) & ~lowBits;
        return kind == Kind.MEMORY64 ? mask : mask & 0xffff_ffffL;
    }
}
