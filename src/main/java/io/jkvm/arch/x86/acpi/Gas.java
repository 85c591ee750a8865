package io.jkvm.arch.x86.acpi;

import java.nio.ByteBuffer;

/**
 * Generic Address Structure (ACPI 6.4 §5.2.3.2, Table 5.1): 12 bytes describing a register.
 */
public record Gas(int addressSpace, int bitWidth, int bitOffset, int accessSize, long address) {
    public static final int SYSTEM_MEMORY = 0;
    public static final int SYSTEM_IO = 1;
    public static final int ACCESS_BYTE = 1;
    public static final int SIZE = 12;
    public static final Gas NONE = new Gas(0, 0, 0, 0, 0);

    /** An 8-bit register in I/O port space, accessed with byte accesses. */
    public static Gas io8(int port) {
        return new Gas(SYSTEM_IO, 8, 0, ACCESS_BYTE, port);
    }

    void put(ByteBuffer b, int offset) {
        b.put(offset, (byte) addressSpace);
        b.put(offset + 1, (byte) bitWidth);
        b.put(offset + 2, (byte) bitOffset);
        b.put(offset + 3, (byte) accessSize);
        b.putLong(offset + 4, address);
    }
}
