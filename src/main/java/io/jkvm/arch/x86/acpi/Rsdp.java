package io.jkvm.arch.x86.acpi;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Root System Description Pointer, revision 2 (ACPI 6.4 §5.2.5.3, Table 5.3): 36 bytes, no RSDT
 * (address 0), the XSDT address, a checksum over the first 20 bytes and an extended checksum over
 * all 36. Must sit on a 16-byte boundary in 0xE0000-0xFFFFF for OSes that scan for it.
 */
public final class Rsdp {
    private Rsdp() {}

    public static final int SIZE = 36;
    public static final int REVISION = 2;

    public static byte[] build(long xsdtAddress) {
        ByteBuffer b = ByteBuffer.allocate(SIZE).order(ByteOrder.LITTLE_ENDIAN);
        b.put(AcpiTable.ascii("RSD PTR ", 8));
        b.put((byte) 0); // checksum
        b.put(AcpiTable.ascii(AcpiTable.OEM_ID, 6));
        b.put((byte) REVISION);
        b.putInt(0); // RsdtAddress: none, XSDT only
        b.putInt(SIZE);
        b.putLong(xsdtAddress);
        b.put((byte) 0); // extended checksum
        byte[] t = b.array();
        t[8] = AcpiTable.checksum(t, 0, 20);
        t[32] = AcpiTable.checksum(t, 0, SIZE);
        return t;
    }
}
