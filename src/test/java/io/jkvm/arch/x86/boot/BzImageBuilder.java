package io.jkvm.arch.x86.boot;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/** Builds synthetic bzImage files with a configurable setup header, for tests. */
public final class BzImageBuilder {
    public int setupSects = 4;
    public int version = 0x020f;
    public int headerLength = 0x6a;
    public int loadFlags = SetupHeader.LOADED_HIGH;
    public int xloadFlags = SetupHeader.XLF_KERNEL_64 | SetupHeader.XLF_CAN_BE_LOADED_ABOVE_4G;
    public long initrdAddrMax = 0x7fff_ffffL;
    public long kernelAlignment = 0x20_0000;
    public boolean relocatable = true;
    public long cmdlineSize = 2047;
    public long prefAddress = 0x100_0000;
    public long initSize = 0x40_0000;
    public int protectedModeSize = 0x3000;

    public byte[] build() {
        int setup = (setupSects == 0 ? 5 : setupSects + 1) * 512;
        ByteBuffer b = ByteBuffer.allocate(setup + protectedModeSize).order(ByteOrder.LITTLE_ENDIAN);
        b.put(0x1f1, (byte) setupSects);
        b.putShort(0x1fe, (short) 0xaa55);
        b.put(0x200, (byte) 0xeb);
        b.put(0x201, (byte) headerLength);
        b.putInt(0x202, (int) SetupHeader.HDRS_MAGIC);
        b.putShort(0x206, (short) version);
        b.put(0x211, (byte) loadFlags);
        b.putInt(0x214, 0x100000);
        b.putInt(0x22c, (int) initrdAddrMax);
        b.putInt(0x230, (int) kernelAlignment);
        b.put(0x234, (byte) (relocatable ? 1 : 0));
        b.putShort(0x236, (short) xloadFlags);
        b.putInt(0x238, (int) cmdlineSize);
        b.putLong(0x258, prefAddress);
        b.putInt(0x260, (int) initSize);
        b.putInt(0x264, 0x190);
        for (int i = setup; i < setup + protectedModeSize; i++) {
            b.put(i, (byte) (i * 7 + 1));
        }
        return b.array();
    }
}
