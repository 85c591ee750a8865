package io.jkvm.arch.x86.acpi;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Resource data descriptors for _CRS buffers (ACPI 6.4 §6.4, "Resource Data Types for ACPI"):
 * the few small and large descriptors a PCI root bridge and a serial port need.
 */
public final class AmlResources {
    private AmlResources() {}

    /** General flags (Table 6.46 etc.): producer, positive decode, min and max fixed. */
    static final int PRODUCER_FIXED = 0x0c;
    static final int TYPE_MEMORY = 0;
    static final int TYPE_IO = 1;
    static final int TYPE_BUS = 2;

    /** ResourceTemplate() { descriptors }: a Buffer ending with an End Tag (checksum 0 = "none", §6.4.2.9). */
    public static byte[] template(byte[]... descriptors) {
        return Aml.buffer(Aml.concat(Aml.concat(descriptors), new byte[] {0x79, 0x00}));
    }

    /** IO(Decode16, min, max, align, len): I/O Port Descriptor (§6.4.2.5), 8 bytes. */
    public static byte[] io(int min, int max, int align, int len) {
        return le(8).put((byte) 0x47).put((byte) 1).putShort((short) min).putShort((short) max)
                .put((byte) align).put((byte) len).array();
    }

    /** IRQNoFlags() { irqs }: IRQ Descriptor without the information byte (§6.4.2.1): edge, active high. */
    public static byte[] irqNoFlags(int... irqs) {
        int mask = 0;
        for (int irq : irqs) {
            if (irq < 0 || irq > 15) {
                throw new IllegalArgumentException("ISA IRQ " + irq + " out of 0..15");
            }
            mask |= 1 << irq;
        }
        return le(3).put((byte) 0x22).putShort((short) mask).array();
    }

    /** WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, ...) (§6.4.3.5.3). */
    public static byte[] wordBusNumber(int min, int max) {
        return word(TYPE_BUS, 0, min, max);
    }

    /** WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, ...) (§6.4.3.5.3). */
    public static byte[] wordIo(int min, int max) {
        return word(TYPE_IO, 0x03, min, max);
    }

    /**
     * DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, NonCacheable, ReadWrite, ...)
     * (§6.4.3.5.2; memory type-specific flags Table 6.50: bit 0 read/write, bits 2:1 = 0 non-cacheable).
     */
    public static byte[] dwordMemoryNonCacheable(long min, long max) {
        if (min < 0 || max < min || max > 0xffff_ffffL) {
            throw new IllegalArgumentException(String.format("bad DWordMemory range 0x%x-0x%x", min, max));
        }
        return le(26).put((byte) 0x87).putShort((short) 23).put((byte) TYPE_MEMORY).put((byte) PRODUCER_FIXED)
                .put((byte) 0x01).putInt(0).putInt((int) min).putInt((int) max).putInt(0)
                .putInt((int) (max - min + 1)).array();
    }

    /** Word Address Space Descriptor (§6.4.3.5.3): tag 0x88, 13 bytes of body without a resource source. */
    private static byte[] word(int type, int typeFlags, int min, int max) {
        if (min < 0 || max < min || max > 0xffff) {
            throw new IllegalArgumentException(String.format("bad Word range 0x%x-0x%x", min, max));
        }
        return le(16).put((byte) 0x88).putShort((short) 13).put((byte) type).put((byte) PRODUCER_FIXED)
                .put((byte) typeFlags).putShort((short) 0).putShort((short) min).putShort((short) max)
                .putShort((short) 0).putShort((short) (max - min + 1)).array();
    }

    private static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }
}
