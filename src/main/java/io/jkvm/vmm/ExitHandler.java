package io.jkvm.vmm;

import io.jkvm.device.Bus;
import io.jkvm.kvm.KvmRun;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.concurrent.atomic.LongAdder;

/**
 * Dispatches KVM_EXIT_IO and KVM_EXIT_MMIO to the port and memory buses (api.rst 5, kvm_run).
 * Each string-I/O repetition ({@code count}) is one access; data is little-endian.
 */
final class ExitHandler {
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final Bus pio;
    private final Bus mmio;
    /** Exits that wrote (port OUT, MMIO write); the reads are the rest of their reason's exits. */
    final LongAdder ioOutExits = new LongAdder();
    final LongAdder mmioWriteExits = new LongAdder();

    ExitHandler(Bus pio, Bus mmio) {
        this.pio = pio;
        this.mmio = mmio;
    }

    void io(KvmRun run) {
        int size = run.ioSize();
        if (size != 1 && size != 2 && size != 4) {
            return; // KVM never produces this; ignore rather than trust it.
        }
        MemorySegment data = run.ioData();
        int port = run.ioPort();
        int count = run.ioCount();
        boolean out = run.ioIsOut();
        if (out) {
            ioOutExits.increment();
        }
        for (int i = 0; i < count; i++) {
            long off = (long) i * size;
            if (out) {
                pio.write(port, size, get(data, off, size));
            } else {
                put(data, off, size, pio.read(port, size));
            }
        }
    }

    void mmio(KvmRun run) {
        int len = run.mmioLength();
        if (len != 1 && len != 2 && len != 4 && len != 8) {
            return;
        }
        MemorySegment data = run.mmioData();
        long addr = run.mmioAddress();
        if (run.mmioIsWrite()) {
            mmioWriteExits.increment();
            mmio.write(addr, len, get(data, 0, len));
        } else {
            put(data, 0, len, mmio.read(addr, len));
        }
    }

    static long get(MemorySegment s, long off, int size) {
        return switch (size) {
            case 1 -> s.get(ValueLayout.JAVA_BYTE, off) & 0xffL;
            case 2 -> s.get(U16, off) & 0xffffL;
            case 4 -> s.get(U32, off) & 0xffff_ffffL;
            default -> s.get(U64, off);
        };
    }

    static void put(MemorySegment s, long off, int size, long v) {
        switch (size) {
            case 1 -> s.set(ValueLayout.JAVA_BYTE, off, (byte) v);
            case 2 -> s.set(U16, off, (short) v);
            case 4 -> s.set(U32, off, (int) v);
            default -> s.set(U64, off, v);
        }
    }
}
