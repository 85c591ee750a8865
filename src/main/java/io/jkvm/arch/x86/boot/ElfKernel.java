package io.jkvm.arch.x86.boot;

import io.jkvm.arch.x86.Layout;
import io.jkvm.memory.GuestMemory;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

/**
 * An uncompressed ELF64 x86-64 kernel (vmlinux) as booted through PVH (Xen docs/misc/pvh.pandoc;
 * Linux arch/x86/platform/pvh). Parsing follows the System V gABI (ELF header, program headers,
 * note format) and trusts nothing: every offset and size is checked against the file, all
 * arithmetic is overflow-safe, and any problem is a {@link KernelFormatException}.
 *
 * @param entry e_entry (a virtual address; not used for PVH)
 * @param segments the PT_LOAD segments, in file order
 * @param pvhEntry physical 32-bit PVH entry from the Xen note, if present
 */
public record ElfKernel(long entry, List<Segment> segments, OptionalLong pvhEntry) {
    static final int EHDR_SIZE = 64;
    static final int PHDR_SIZE = 56;
    static final int ET_EXEC = 2;
    static final int EM_X86_64 = 62;
    static final int PT_LOAD = 1;
    static final int PT_NOTE = 4;
    /** XEN_ELFNOTE_PHYS32_ENTRY (xen/include/public/elfnote.h). */
    static final int XEN_ELFNOTE_PHYS32_ENTRY = 18;
    static final int MAX_PHDRS = 4096;

    /** One PT_LOAD program header. */
    public record Segment(long fileOffset, long paddr, long fileSize, long memSize) {
        public long end() {
            return paddr + memSize;
        }
    }

    public static boolean hasElfMagic(byte[] head) {
        return head.length >= 4 && head[0] == 0x7f && head[1] == 'E' && head[2] == 'L' && head[3] == 'F';
    }

    public static ElfKernel parse(byte[] file) {
        LeBytes f = new LeBytes(file, "vmlinux");
        if (!hasElfMagic(file)) {
            throw new KernelFormatException("not an ELF file: missing \\x7fELF magic at offset 0");
        }
        f.require(0, EHDR_SIZE, "ELF header");
        if (file[4] != 2) {
            throw new KernelFormatException("vmlinux is not a 64-bit ELF file (EI_CLASS " + file[4] + ")");
        }
        if (file[5] != 1) {
            throw new KernelFormatException("vmlinux is not little-endian (EI_DATA " + file[5] + ")");
        }
        int type = f.u16(16, "e_type");
        if (type != ET_EXEC) {
            throw new KernelFormatException("vmlinux is not an executable (e_type " + type + ", expected ET_EXEC 2)");
        }
        int machine = f.u16(18, "e_machine");
        if (machine != EM_X86_64) {
            throw new KernelFormatException("vmlinux is not for x86-64 (e_machine " + machine + ", expected 62)");
        }
        long entry = f.u64(24, "e_entry");
        long phoff = f.u64(32, "e_phoff");
        int phentsize = f.u16(54, "e_phentsize");
        int phnum = f.u16(56, "e_phnum");
        if (phentsize != PHDR_SIZE) {
            throw new KernelFormatException("vmlinux e_phentsize is " + phentsize + ", expected 56");
        }
        if (phnum == 0 || phnum > MAX_PHDRS) {
            throw new KernelFormatException("vmlinux has " + phnum + " program headers");
        }
        f.require(phoff, (long) phnum * PHDR_SIZE, "program header table");
        List<Segment> loads = new ArrayList<>();
        Long pvh = null;
        for (int i = 0; i < phnum; i++) {
            long ph = phoff + (long) i * PHDR_SIZE;
            long pType = f.u32(ph, "p_type");
            long off = f.u64(ph + 8, "p_offset");
            long paddr = f.u64(ph + 24, "p_paddr");
            long filesz = f.u64(ph + 32, "p_filesz");
            long memsz = f.u64(ph + 40, "p_memsz");
            if (pType == PT_LOAD) {
                if (!f.contains(off, filesz)) {
                    throw new KernelFormatException(String.format(
                            "vmlinux PT_LOAD segment %d: file range 0x%x+0x%x lies beyond the file size 0x%x",
                            i, off, filesz, file.length));
                }
                if (Long.compareUnsigned(memsz, filesz) < 0) {
                    throw new KernelFormatException(String.format(
                            "vmlinux PT_LOAD segment %d: p_memsz 0x%x is smaller than p_filesz 0x%x", i, memsz, filesz));
                }
                if (paddr < 0 || memsz < 0 || paddr + memsz < 0) {
                    throw new KernelFormatException(String.format(
                            "vmlinux PT_LOAD segment %d: physical range 0x%x+0x%x overflows", i, paddr, memsz));
                }
                loads.add(new Segment(off, paddr, filesz, memsz));
            } else if (pType == PT_NOTE) {
                if (!f.contains(off, filesz)) {
                    throw new KernelFormatException(String.format(
                            "vmlinux PT_NOTE segment %d: file range 0x%x+0x%x lies beyond the file size 0x%x",
                            i, off, filesz, file.length));
                }
                Long found = findPvhEntry(f, off, filesz);
                if (found != null) {
                    pvh = found;
                }
            }
        }
        if (loads.isEmpty()) {
            throw new KernelFormatException("vmlinux has no PT_LOAD segment");
        }
        return new ElfKernel(entry, List.copyOf(loads), pvh == null ? OptionalLong.empty() : OptionalLong.of(pvh));
    }

    /** Walks the notes in [off, off+len): namesz, descsz, type, name and desc each padded to 4. */
    private static Long findPvhEntry(LeBytes f, long off, long len) {
        long p = off;
        long end = off + len;
        while (end - p >= 12) {
            long namesz = f.u32(p, "note namesz");
            long descsz = f.u32(p + 4, "note descsz");
            long type = f.u32(p + 8, "note type");
            long name = p + 12;
            long desc = name + align4(namesz);
            long next = desc + align4(descsz);
            if (next > end) {
                throw new KernelFormatException(String.format(
                        "vmlinux note at offset 0x%x overruns its PT_NOTE segment", p));
            }
            if (type == XEN_ELFNOTE_PHYS32_ENTRY && namesz == 4 && isXen(f, name)) {
                long addr;
                if (descsz == 4) {
                    addr = f.u32(desc, "PVH entry note");
                } else if (descsz == 8) {
                    addr = f.u64(desc, "PVH entry note");
                } else {
                    throw new KernelFormatException("vmlinux PVH entry note has a " + descsz + "-byte descriptor");
                }
                if (addr < 0 || addr >= Layout.FOUR_GIB) {
                    throw new KernelFormatException(String.format(
                            "vmlinux PVH entry 0x%x is not a 32-bit physical address", addr));
                }
                return addr;
            }
            p = next;
        }
        return null;
    }

    private static boolean isXen(LeBytes f, long name) {
        return f.u8(name, "note name") == 'X' && f.u8(name + 1, "note name") == 'e'
                && f.u8(name + 2, "note name") == 'n' && f.u8(name + 3, "note name") == 0;
    }

    private static long align4(long v) {
        return (v + 3) & ~3L;
    }

    /** The PVH entry, or the error the user should see if the kernel was built without CONFIG_PVH. */
    public long requirePvhEntry() {
        return pvhEntry.orElseThrow(() ->
                new KernelFormatException("vmlinux has no PVH entry note (kernel built without CONFIG_PVH)"));
    }

    /** First byte above every PT_LOAD segment. */
    public long end() {
        long end = 0;
        for (Segment s : segments) {
            end = Math.max(end, s.end());
        }
        return end;
    }

    /**
     * Copies every PT_LOAD segment to its p_paddr and zero-fills p_memsz beyond p_filesz.
     * Segments must lie in [1 MiB, lowRamEnd): below 1 MiB live the boot structures (zero page,
     * page tables, ACPI), and the kernel must be in RAM.
     */
    public void load(GuestMemory mem, byte[] file, long lowRamEnd) {
        for (int i = 0; i < segments.size(); i++) {
            Segment s = segments.get(i);
            if (s.paddr() < Layout.KERNEL_START) {
                throw new KernelFormatException(String.format(
                        "vmlinux PT_LOAD segment %d at 0x%x overlaps jkvm's boot structures below 1 MiB", i, s.paddr()));
            }
            if (s.end() > lowRamEnd || !mem.isValid(s.paddr(), s.memSize())) {
                throw new BootException(String.format(
                        "vmlinux PT_LOAD segment %d [0x%x, 0x%x) lies beyond guest RAM (RAM below the 32-bit hole ends at 0x%x);"
                                + " give the guest more RAM",
                        i, s.paddr(), s.end(), lowRamEnd));
            }
        }
        for (Segment s : segments) {
            mem.write(s.paddr(), file, (int) s.fileOffset(), (int) s.fileSize());
            if (s.memSize() > s.fileSize()) {
                mem.fill(s.paddr() + s.fileSize(), s.memSize() - s.fileSize(), (byte) 0);
            }
        }
    }
}
