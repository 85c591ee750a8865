package io.jkvm.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The benchmark's guests: one 64 KiB image that every VMM runs unchanged. QEMU loads it as its
 * BIOS (-bios: mapped below 4 GiB and at 0xf0000, entered at the reset vector); jkvm and the C
 * floor load it at 0xf0000 and enter it at f000:fff0, which is the same code. It switches to flat
 * 32-bit protected mode and then, depending on the variant:
 * <ul>
 *   <li>{@link Kind#PIO}: {@code out %al,%dx} to port {@value #PIO_PORT}, 64 per loop iteration
 *       (unrolled so the emulated {@code dec/jnz} costs 1/32 of an instruction per exit);
 *   <li>{@link Kind#MMIO}: {@code mov %al,(%edi)} to {@value #MMIO_ADDR_HEX}, same unrolling;
 *   <li>{@link Kind#TOUCH}: writes 'S' to the debug console port 0xe9 (its first instruction after
 *       the reset jump), one byte in every 4 KiB page from 1 MiB to the end of RAM, then 'R' to the
 *       debug console, and halts for good;
 *   <li>{@link Kind#SPIN}: as TOUCH, but after the 'R' it writes 'x' to the debug console every
 *       1000 iterations of an empty loop, forever (restore figures: a running guest shows it runs).
 * </ul>
 * Then (PIO, MMIO) it writes to port 0xf4 (QEMU's isa-debug-exit) and halts. Both ports are
 * unassigned in QEMU's -M pc, so each access is a round trip to QEMU's userspace, as to jkvm's.
 * Assembled at run time with GNU as/ld (binutils, which gcc needs anyway): benchmark tooling.
 */
public final class BenchGuest {
    public enum Kind { PIO, MMIO, TOUCH, SPIN }

    public static final int PIO_PORT = 0x4f0;
    public static final long MMIO_ADDR = 0xd000_0000L;
    static final String MMIO_ADDR_HEX = "0xd0000000";
    public static final int DONE_PORT = 0xf4;
    public static final int DEBUGCON_PORT = 0xe9;
    /** Exits per loop iteration. */
    public static final int UNROLL = 64;
    /** Where jkvm and the C floor load the image; entered at segment 0xf000, offset 0xfff0. */
    public static final long LOAD_ADDRESS = 0xf0000;
    public static final int SIZE = 0x10000;

    private static final String SOURCE = """
            .set MODE, %d
            .set ITER, %d
            .set RAM_END, %d
            .code16
            .org 0
            start:
              cli
            .if MODE >= 2
              mov $'S', %%al
              out %%al, $0xe9
            .endif
              lgdtl %%cs:gdtdesc
              mov %%cr0, %%eax
              or $1, %%eax
              mov %%eax, %%cr0
              ljmpl $0x08, $(0xf0000 + pm32)
            .code32
            pm32:
              mov $0x10, %%ax
              mov %%ax, %%ds
              mov %%ax, %%es
              mov %%ax, %%ss
            .if MODE >= 2
              mov $0x100000, %%edi
            1:
              mov %%al, (%%edi)
              add $4096, %%edi
              cmp $RAM_END, %%edi
              jb 1b
              mov $'R', %%al
              out %%al, $0xe9
            .if MODE == 3
            3:
              mov $1000, %%ecx
            4:
              dec %%ecx
              jnz 4b
              mov $'x', %%al
              out %%al, $0xe9
              jmp 3b
            .endif
            2:
              hlt
              jmp 2b
            .else
              mov $ITER, %%ecx
              test %%ecx, %%ecx
              jz done
            .if MODE == 0
              mov $%d, %%dx
            1:
              .rept %d
              out %%al, %%dx
              .endr
            .else
              mov $%d, %%edi
            1:
              .rept %d
              mov %%al, (%%edi)
              .endr
            .endif
              dec %%ecx
              jnz 1b
            done:
              mov $0, %%al
              out %%al, $0xf4
              hlt
              jmp done
            .endif
            .align 8
            gdt:
              .quad 0
              .quad 0x00cf9b000000ffff
              .quad 0x00cf93000000ffff
            gdtdesc:
              .word 0x17
              .long 0xf0000 + gdt
            .code16
            .org 0xfff0
              ljmp $0xf000, $start
            .org 0x10000
            """;

    private BenchGuest() {}

    /** Why guests cannot be built here, or null. */
    public static String unavailable() {
        return Tools.onPath("as") && Tools.onPath("ld") ? null : "GNU as/ld (binutils) not installed";
    }

    /** Why a bench guest cannot run on this host's own KVM (no usable KVM, or no assembler), or null. */
    static String unavailableOnKvm() {
        return io.jkvm.kvm.KvmDevice.whyUnusable().orElseGet(BenchGuest::unavailable);
    }

    /** The source of a guest doing {@code exits} exits (PIO/MMIO) or touching RAM up to {@code ramBytes}. */
    static String source(Kind kind, int exits, long ramBytes) {
        if (exits % UNROLL != 0 || exits < 0) {
            throw new IllegalArgumentException("exits must be a non-negative multiple of " + UNROLL);
        }
        return String.format(SOURCE, kind.ordinal(), exits / UNROLL, ramBytes, PIO_PORT, UNROLL, MMIO_ADDR, UNROLL);
    }

    /** Assembles the guest into {@code dir/name}; returns the image path. */
    public static Path build(Path dir, String name, Kind kind, int exits, long ramBytes) throws IOException {
        Path src = dir.resolve(name + ".S");
        Files.writeString(src, source(kind, exits, ramBytes));
        Tools.run(dir, List.of("as", "--32", "-o", name + ".o", name + ".S"), 60);
        Tools.run(dir, List.of("ld", "-m", "elf_i386", "-Ttext=0", "-e", "0", "--oformat", "binary",
                "-o", name + ".bin", name + ".o"), 60);
        Path bin = dir.resolve(name + ".bin");
        if (Files.size(bin) != SIZE) {
            throw new IOException("guest image " + bin + " is " + Files.size(bin) + " bytes, not " + SIZE);
        }
        return bin;
    }
}
