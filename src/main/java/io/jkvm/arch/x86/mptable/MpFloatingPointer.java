package io.jkvm.arch.x86.mptable;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The MP floating pointer structure (MultiProcessor Specification 1.4, §4.1): 16 bytes, on a
 * 16-byte boundary where an OS searches for "_MP_" (the first KiB of the EBDA, the last KiB of
 * base memory, or 0xF0000-0xFFFFF), pointing at the configuration table. Feature byte 1 is 0
 * (a configuration table is present, no default configuration) and byte 2's IMCR bit is clear
 * (virtual wire mode: there is no IMCR to switch).
 */
public final class MpFloatingPointer {
    private MpFloatingPointer() {}

    public static final int SIZE = 16;

    public static byte[] build(long tableAddress) {
        if (tableAddress <= 0 || tableAddress >= 1L << 32) {
            throw new IllegalArgumentException(String.format("MP configuration table at 0x%x is not a 32-bit address", tableAddress));
        }
        ByteBuffer b = ByteBuffer.allocate(SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.put("_MP_".getBytes(StandardCharsets.US_ASCII)).putInt((int) tableAddress);
        b.put((byte) 1).put((byte) 4).put((byte) 0); // length in 16-byte units, revision 1.4, checksum
        b.put((byte) 0).put((byte) 0).put((byte) 0).put((byte) 0).put((byte) 0);
        byte[] out = b.array();
        out[10] = MpTable.checksum(out, 0, SIZE);
        return out;
    }
}
