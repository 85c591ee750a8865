package io.jkvm.image;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/** Finds a statically linked busybox (Debian's busybox-static) to be the userland of an initramfs. */
public final class Busybox {
    /** Where Debian's busybox-static installs it. */
    public static final Path DEFAULT = Path.of("/bin/busybox");
    private static final int PT_INTERP = 3;

    private Busybox() {}

    /** Why {@code path} cannot serve as an initramfs busybox, or empty if it can. */
    public static Optional<String> problem(Path path) {
        if (!Files.isRegularFile(path)) {
            return Optional.of("no " + path + " (install Debian package busybox-static)");
        }
        try {
            if (hasInterpreter(path)) {
                return Optional.of(path + " is dynamically linked (install Debian package busybox-static)");
            }
        } catch (IOException e) {
            return Optional.of("cannot read " + path + ": " + e.getMessage());
        }
        return Optional.empty();
    }

    /** The static busybox to use, or an exception naming the package to install. */
    public static Path require() throws IOException {
        Optional<String> p = problem(DEFAULT);
        if (p.isPresent()) {
            throw new IOException(p.get());
        }
        return DEFAULT;
    }

    /** True if the 64-bit ELF file has a PT_INTERP program header, i.e. needs a dynamic loader. */
    static boolean hasInterpreter(Path elf) throws IOException {
        try (FileChannel ch = FileChannel.open(elf)) {
            ByteBuffer h = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(h, 0);
            if (h.getInt(0) != 0x464C457F || h.get(4) != 2) {
                throw new IOException("not a 64-bit ELF file");
            }
            long phoff = h.getLong(0x20);
            int phentsize = Short.toUnsignedInt(h.getShort(0x36));
            int phnum = Short.toUnsignedInt(h.getShort(0x38));
            ByteBuffer ph = ByteBuffer.allocate(phentsize).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < phnum; i++) {
                ph.clear();
                ch.read(ph, phoff + (long) i * phentsize);
                if (ph.getInt(0) == PT_INTERP) {
                    return true;
                }
            }
            return false;
        }
    }
}
