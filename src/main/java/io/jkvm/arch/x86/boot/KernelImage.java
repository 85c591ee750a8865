package io.jkvm.arch.x86.boot;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Tells the two kernel formats jkvm boots apart by their magic numbers: a bzImage has "HdrS" at
 * 0x202 (boot.rst), a vmlinux starts with the ELF magic.
 */
public final class KernelImage {
    private KernelImage() {}

    public enum Kind {
        /** Compressed kernel with a setup header: 64-bit Linux boot protocol. */
        BZIMAGE,
        /** Uncompressed ELF kernel: PVH entry. */
        ELF,
        UNKNOWN
    }

    static final int PROBE_BYTES = 0x206;

    /** Reads the first bytes of {@code file} and classifies them. */
    public static Kind detect(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return detect(in.readNBytes(PROBE_BYTES));
        }
    }

    /** Classifies a file from its first bytes (any length). */
    public static Kind detect(byte[] head) {
        if (ElfKernel.hasElfMagic(head)) {
            return Kind.ELF;
        }
        if (head.length >= 0x206 && head[0x202] == 'H' && head[0x203] == 'd' && head[0x204] == 'r'
                && head[0x205] == 'S') {
            return Kind.BZIMAGE;
        }
        return Kind.UNKNOWN;
    }

    /** Like {@link #detect(Path)} but an unknown format is a {@link KernelFormatException}. */
    public static Kind require(Path file) throws IOException {
        Kind k = detect(file);
        if (k == Kind.UNKNOWN) {
            throw new KernelFormatException(
                    "not a kernel image: neither a bzImage (no HdrS) nor an ELF file: " + file);
        }
        return k;
    }
}
