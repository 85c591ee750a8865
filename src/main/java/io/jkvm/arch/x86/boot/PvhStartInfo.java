package io.jkvm.arch.x86.boot;

import io.jkvm.arch.x86.Layout;
import io.jkvm.arch.x86.e820.E820Map;
import io.jkvm.memory.GuestMemory;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Writes struct hvm_start_info version 1 (Xen xen/include/public/arch-x86/hvm/start_info.h;
 * PVH boot ABI in docs/misc/pvh.pandoc) and what it points to, all inside the
 * [{@link Layout#PVH_INFO}, {@link Layout#ZERO_PAGE}) page range:
 * start info at +0, one hvm_modlist_entry (the initrd) at +0x40, the memory map at +0x80.
 */
public final class PvhStartInfo {
    private PvhStartInfo() {}

    public static final int MAGIC = 0x336ec578;
    public static final int VERSION = 1;
    public static final int SIZE = 0x38;
    public static final long MODLIST = Layout.PVH_INFO + 0x40;
    public static final int MODLIST_ENTRY_SIZE = 32;
    public static final long MEMMAP = Layout.PVH_INFO + 0x80;

    /** A loaded module (the initrd). */
    public record Module(long address, long size) {}

    /**
     * @param initrd the initrd, or null for none
     */
    public static void write(GuestMemory mem, long cmdlineAddress, Module initrd, long rsdpAddress, E820Map map) {
        byte[] memmap = map.toPvhMemmap();
        if (MEMMAP + memmap.length > Layout.ZERO_PAGE) {
            throw new IllegalStateException("PVH memory map of " + map.size() + " entries does not fit before the zero page");
        }
        ByteBuffer si = ByteBuffer.allocate(SIZE).order(ByteOrder.LITTLE_ENDIAN);
        si.putInt(0x00, MAGIC);
        si.putInt(0x04, VERSION);
        si.putInt(0x08, 0); // flags
        si.putInt(0x0c, initrd == null ? 0 : 1);
        si.putLong(0x10, initrd == null ? 0 : MODLIST);
        si.putLong(0x18, cmdlineAddress);
        si.putLong(0x20, rsdpAddress);
        si.putLong(0x28, MEMMAP);
        si.putInt(0x30, map.size());
        si.putInt(0x34, 0);
        mem.fill(Layout.PVH_INFO, MEMMAP - Layout.PVH_INFO, (byte) 0);
        mem.write(Layout.PVH_INFO, si.array());
        if (initrd != null) {
            ByteBuffer mod = ByteBuffer.allocate(MODLIST_ENTRY_SIZE).order(ByteOrder.LITTLE_ENDIAN);
            mod.putLong(initrd.address()).putLong(initrd.size()).putLong(0).putLong(0);
            mem.write(MODLIST, mod.array());
        }
        mem.write(MEMMAP, memmap);
    }
}
