package io.jkvm.kvm;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static io.jkvm.kvm.KvmStructs.Run.*;

/**
 * Typed view of a vCPU's shared {@code struct kvm_run} page (api.rst section 5).
 * KVM writes the exit data here; userspace fills in the results of IN and MMIO reads here
 * before the next KVM_RUN. The I/O data offset is validated so a bogus value can never make
 * us read or write outside the page.
 */
public final class KvmRun {
    private final MemorySegment page;

    KvmRun(MemorySegment page) {
        this.page = page;
    }

    public int exitReason() {
        return page.get(ValueLayout.JAVA_INT, EXIT_REASON);
    }

    public void immediateExit(boolean on) {
        page.set(ValueLayout.JAVA_BYTE, IMMEDIATE_EXIT, (byte) (on ? 1 : 0));
    }

    public boolean ioIsOut() {
        return page.get(ValueLayout.JAVA_BYTE, IO_DIRECTION) == 1;
    }

    public int ioSize() {
        return page.get(ValueLayout.JAVA_BYTE, IO_SIZE) & 0xff;
    }

    public int ioPort() {
        return page.get(ValueLayout.JAVA_SHORT, IO_PORT) & 0xffff;
    }

    public int ioCount() {
        return page.get(ValueLayout.JAVA_INT, IO_COUNT);
    }

    /** The data area of an IO exit: count * size bytes inside the page. */
    public MemorySegment ioData() {
        long off = page.get(ValueLayout.JAVA_LONG, IO_DATA_OFFSET);
        long len = (long) ioSize() * ioCount();
        if (off < 0 || len < 0 || off > page.byteSize() - len) {
            throw new IllegalStateException("kvm_run io.data_offset out of the run page: " + off);
        }
        return page.asSlice(off, len);
    }

    public long mmioAddress() {
        return page.get(ValueLayout.JAVA_LONG, MMIO_PHYS_ADDR);
    }

    public int mmioLength() {
        return page.get(ValueLayout.JAVA_INT, MMIO_LEN);
    }

    public boolean mmioIsWrite() {
        return page.get(ValueLayout.JAVA_BYTE, MMIO_IS_WRITE) != 0;
    }

    /** The 8-byte data buffer of an MMIO exit. */
    public MemorySegment mmioData() {
        return page.asSlice(MMIO_DATA, 8);
    }

    public long failEntryReason() {
        return page.get(ValueLayout.JAVA_LONG, FAIL_ENTRY_REASON);
    }

    public int internalSuberror() {
        return page.get(ValueLayout.JAVA_INT, INTERNAL_SUBERROR);
    }

    public long[] internalData() {
        int n = Math.min(16, Math.max(0, page.get(ValueLayout.JAVA_INT, INTERNAL_NDATA)));
        long[] d = new long[n];
        for (int i = 0; i < n; i++) {
            d[i] = page.get(ValueLayout.JAVA_LONG, INTERNAL_DATA + 8L * i);
        }
        return d;
    }

    public int systemEventType() {
        return page.get(ValueLayout.JAVA_INT, SYSTEM_EVENT_TYPE);
    }
}
