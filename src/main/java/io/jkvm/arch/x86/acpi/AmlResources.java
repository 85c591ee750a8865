package io.jkvm.arch.x86.acpi;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Resource data descriptors for _CRS buffers (ACPI 6.4 §6.4, "Resource Data Types for ACPI"):
 * the few small and large descriptors a PCI root bridge, the legacy ISA devices and the
 * virtio-mmio devices need.
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

    /**
     * Memory32Fixed(ReadWrite|ReadOnly, base, length): 32-Bit Fixed Memory Range Descriptor
     * (§6.4.3.4), 12 bytes: tag 0x86 (large item 0x06), length 9 (little-endian word), information
     * byte (bit 0: 1 = read/write, 0 = read-only), then the base and the range length as
     * little-endian DWORDs.
     */
    public static byte[] memory32Fixed(boolean readWrite, long base, long length) {
        if (base < 0 || length <= 0 || base + length > 0x1_0000_0000L) {
            throw new IllegalArgumentException(String.format("bad Memory32Fixed range 0x%x+0x%x", base, length));
        }
        return le(12).put((byte) 0x86).putShort((short) 9).put((byte) (readWrite ? 1 : 0))
                .putInt((int) base).putInt((int) length).array();
    }

    /** Extended Interrupt flag bit 0 (§6.4.3.6): the device consumes the interrupt. */
    static final int EXT_IRQ_CONSUMER = 0x01;
    /** Bit 1: edge-triggered (clear: level-triggered). */
    static final int EXT_IRQ_EDGE = 0x02;
    /** Bit 2: active-low (clear: active-high). */
    static final int EXT_IRQ_ACTIVE_LOW = 0x04;
    /** Bit 3: shared (clear: exclusive). */
    static final int EXT_IRQ_SHARED = 0x08;

    /**
     * Interrupt(ResourceConsumer, Level, ActiveHigh, Exclusive) { gsi }: Extended Interrupt
     * Descriptor (§6.4.3.6) for one interrupt and no resource source, 9 bytes: tag 0x89 (large
     * item 0x09), length 6 (flags, table length, one DWORD), the flags byte (bit 0 consumer, bit 1
     * edge, bit 2 active-low, bit 3 shared; all but bit 0 clear here), the interrupt table length 1,
     * then the GSI as a little-endian DWORD.
     */
    public static byte[] interruptLevelHighExclusive(int gsi) {
        if (gsi < 0) {
            throw new IllegalArgumentException("negative GSI " + gsi);
        }
        return le(9).put((byte) 0x89).putShort((short) 6).put((byte) EXT_IRQ_CONSUMER).put((byte) 1).putInt(gsi).array();
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
