package io.jkvm.arch.x86.acpi;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * The 36-byte System Description Table header shared by every ACPI table except the RSDP
 * (ACPI 6.4 §5.2.6, Table 5.4), and the checksum rule: all bytes of a table sum to zero mod 256.
 */
public final class AcpiTable {
    private AcpiTable() {}

    public static final int HEADER_SIZE = 36;
    public static final String OEM_ID = "JKVM  ";
    public static final String CREATOR_ID = "JKVM";
    public static final int OEM_REVISION = 1;
    public static final int CREATOR_REVISION = 1;
    public static final int CHECKSUM_OFFSET = 9;

    /** A little-endian buffer of {@code length} bytes with the header filled in (checksum 0 for now). */
    static ByteBuffer start(String signature, int length, int revision) {
        ByteBuffer b = ByteBuffer.allocate(length).order(ByteOrder.LITTLE_ENDIAN);
        b.put(ascii(signature, 4));
        b.putInt(length);
        b.put((byte) revision);
        b.put((byte) 0); // checksum, set by finish()
        b.put(ascii(OEM_ID, 6));
        b.put(ascii(("JKVM" + signature), 8));
        b.putInt(OEM_REVISION);
        b.put(ascii(CREATOR_ID, 4));
        b.putInt(CREATOR_REVISION);
        return b;
    }

    /** Sets the header checksum so the whole table sums to zero; returns the bytes. */
    static byte[] finish(ByteBuffer b) {
        byte[] t = b.array();
        t[CHECKSUM_OFFSET] = 0;
        t[CHECKSUM_OFFSET] = checksum(t, 0, t.length);
        return t;
    }

    /** The byte that makes {@code data[off, off+len)} sum to zero (given its current contents). */
    public static byte checksum(byte[] data, int off, int len) {
        int sum = 0;
        for (int i = off; i < off + len; i++) {
            sum += data[i];
        }
        return (byte) -sum;
    }

    /** Sum of the bytes mod 256: 0 for a correctly checksummed table. */
    public static int sum(byte[] data, int off, int len) {
        int sum = 0;
        for (int i = off; i < off + len; i++) {
            sum += data[i];
        }
        return sum & 0xff;
    }

    /** {@code s} as exactly {@code len} ASCII bytes, space-padded. */
    static byte[] ascii(String s, int len) {
        byte[] out = new byte[len];
        byte[] src = s.getBytes(StandardCharsets.US_ASCII);
        for (int i = 0; i < len; i++) {
            out[i] = i < src.length ? src[i] : (byte) ' ';
        }
        return out;
    }
}
