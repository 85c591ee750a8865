package io.jkvm.arch.x86.acpi;

import java.nio.ByteBuffer;
import java.util.List;

/** Extended System Description Table (ACPI 6.4 §5.2.8): header plus 64-bit table pointers. */
public final class Xsdt {
    private Xsdt() {}

    public static final int REVISION = 1;

    public static byte[] build(List<Long> tables) {
        ByteBuffer b = AcpiTable.start("XSDT", AcpiTable.HEADER_SIZE + 8 * tables.size(), REVISION);
        for (long t : tables) {
            b.putLong(t);
        }
        return AcpiTable.finish(b);
    }
}
