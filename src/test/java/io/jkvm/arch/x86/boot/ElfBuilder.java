package io.jkvm.arch.x86.boot;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/** Builds synthetic ELF64 x86-64 vmlinux files (PT_LOAD segments and an optional PVH note), for tests. */
public final class ElfBuilder {
    public record Load(long paddr, byte[] data, long memSize) {}

    public final List<Load> loads = new ArrayList<>();
    /** PVH entry to put in a Xen note, or -1 for no note. */
    public long pvhEntry = 0x100_0000 + 0x40;
    /** 4 or 8. */
    public int pvhDescSize = 8;
    public int type = 2;
    public int machine = 62;
    /** An unrelated note placed before the Xen one. */
    public boolean extraNote = true;

    public ElfBuilder load(long paddr, byte[] data, long memSize) {
        loads.add(new Load(paddr, data, memSize));
        return this;
    }

    public byte[] build() {
        byte[] notes = notes();
        int phnum = loads.size() + (notes.length > 0 ? 1 : 0);
        int phoff = 64;
        long dataOff = phoff + 56L * phnum;
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        ByteBuffer ph = ByteBuffer.allocate(56 * phnum).order(ByteOrder.LITTLE_ENDIAN);
        if (notes.length > 0) {
            phdr(ph, 4, dataOff, 0, notes.length, notes.length);
            data.writeBytes(notes);
        }
        for (Load l : loads) {
            while ((dataOff + data.size()) % 16 != 0) {
                data.write(0);
            }
            phdr(ph, 1, dataOff + data.size(), l.paddr(), l.data().length, l.memSize());
            data.writeBytes(l.data());
        }
        ByteBuffer eh = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        eh.put(new byte[] {0x7f, 'E', 'L', 'F', 2, 1, 1});
        eh.putShort(16, (short) type);
        eh.putShort(18, (short) machine);
        eh.putInt(20, 1);
        eh.putLong(24, 0xffff_ffff_8100_0000L);
        eh.putLong(32, phoff);
        eh.putShort(52, (short) 64);
        eh.putShort(54, (short) 56);
        eh.putShort(56, (short) phnum);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(eh.array());
        out.writeBytes(ph.array());
        out.writeBytes(data.toByteArray());
        return out.toByteArray();
    }

    private static void phdr(ByteBuffer ph, int type, long off, long paddr, long filesz, long memsz) {
        ph.putInt(type).putInt(5).putLong(off).putLong(0xffff_ffff_8000_0000L + paddr).putLong(paddr)
                .putLong(filesz).putLong(memsz).putLong(0x1000);
    }

    private byte[] notes() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        if (extraNote) {
            note(out, "GNU", 3, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20});
        }
        if (pvhEntry >= 0) {
            byte[] desc = ByteBuffer.allocate(pvhDescSize).order(ByteOrder.LITTLE_ENDIAN).array();
            ByteBuffer d = ByteBuffer.wrap(desc).order(ByteOrder.LITTLE_ENDIAN);
            if (pvhDescSize == 8) {
                d.putLong(pvhEntry);
            } else {
                d.putInt((int) pvhEntry);
            }
            note(out, "Xen", 18, desc);
        }
        return out.toByteArray();
    }

    private static void note(ByteArrayOutputStream out, String name, int type, byte[] desc) {
        byte[] n = (name + "\0").getBytes();
        ByteBuffer h = ByteBuffer.allocate(12).order(ByteOrder.LITTLE_ENDIAN);
        h.putInt(n.length).putInt(desc.length).putInt(type);
        out.writeBytes(h.array());
        out.writeBytes(n);
        while (out.size() % 4 != 0) {
            out.write(0);
        }
        out.writeBytes(desc);
        while (out.size() % 4 != 0) {
            out.write(0);
        }
    }
}
