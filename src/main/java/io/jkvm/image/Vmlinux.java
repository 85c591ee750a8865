package io.jkvm.image;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.Optional;

/**
 * Extracts the uncompressed ELF kernel (vmlinux) from a bzImage. Under QEMU's TCG the bzImage's
 * own decompressor and real-mode setup cost seconds of emulation per boot; an ELF with a PVH entry
 * note ({@code CONFIG_PVH=y}, as in Debian's kernels) is loaded by QEMU directly and starts in
 * 32-bit mode, skipping both.
 */
public final class Vmlinux {
    private static final int PT_NOTE = 4;
    /** XEN_ELFNOTE_PHYS32_ENTRY: the PVH entry point. */
    private static final int NOTE_PVH_ENTRY = 18;

    /** Compressed payload formats: magic and the tool that decompresses it from stdin. */
    private record Format(byte[] magic, List<String> command) {}

    private static final List<Format> FORMATS = List.of(
            new Format(new byte[] {(byte) 0xFD, '7', 'z', 'X', 'Z', 0}, List.of("xz", "-dcq", "--single-stream")),
            new Format(new byte[] {0x28, (byte) 0xB5, 0x2F, (byte) 0xFD}, List.of("zstd", "-dcq")),
            new Format(new byte[] {0x1F, (byte) 0x8B, 0x08}, List.of("gzip", "-dcq")));

    private Vmlinux() {}

    /**
     * {@code output} holding the PVH-bootable ELF inside {@code bzImage}, extracted when missing or
     * older than {@code bzImage}; empty when the image has no such payload (then boot the bzImage).
     */
    public static Optional<Path> ensure(Path bzImage, Path output) throws IOException {
        if (Files.isRegularFile(output)
                && Files.getLastModifiedTime(output).compareTo(Files.getLastModifiedTime(bzImage)) >= 0
                && hasPvhEntry(output)) {
            return Optional.of(output);
        }
        Files.createDirectories(output.toAbsolutePath().getParent());
        byte[] image = Files.readAllBytes(bzImage);
        Path tmp = Files.createTempFile(output.toAbsolutePath().getParent(), "vmlinux", ".tmp");
        try {
            for (Format f : FORMATS) {
                int at = indexOf(image, f.magic());
                if (at >= 0 && decompress(image, at, f.command(), tmp) && hasPvhEntry(tmp)) {
                    Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rw-r--r--"));
                    Files.move(tmp, output, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                    return Optional.of(output);
                }
            }
            return Optional.empty();
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static boolean decompress(byte[] image, int offset, List<String> command, Path out) {
        try {
            Process p = new ProcessBuilder(command).redirectOutput(out.toFile())
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start();
            Thread feeder = Thread.ofPlatform().daemon().start(() -> {
                try (OutputStream in = p.getOutputStream()) {
                    in.write(image, offset, image.length - offset);
                } catch (IOException e) {
                    // the tool stopped reading: it found the end of its stream (trailing data follows)
                }
            });
            p.waitFor();
            feeder.join();
            // Exit status is not reliable here: the payload is followed by other data, which some
            // tools report as an error after decompressing everything. The ELF check decides.
            return Files.size(out) > 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    private static int indexOf(byte[] a, byte[] m) {
        outer:
        for (int i = 0; i + m.length <= a.length; i++) {
            for (int j = 0; j < m.length; j++) {
                if (a[i + j] != m[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    /** True if {@code elf} is a 64-bit ELF with a Xen PVH entry note. */
    static boolean hasPvhEntry(Path elf) throws IOException {
        try (FileChannel ch = FileChannel.open(elf)) {
            ByteBuffer h = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
            if (ch.read(h, 0) < 64 || h.getInt(0) != 0x464C457F || h.get(4) != 2) {
                return false;
            }
            long phoff = h.getLong(0x20);
            int phentsize = Short.toUnsignedInt(h.getShort(0x36));
            int phnum = Short.toUnsignedInt(h.getShort(0x38));
            for (int i = 0; i < phnum; i++) {
                ByteBuffer ph = ByteBuffer.allocate(phentsize).order(ByteOrder.LITTLE_ENDIAN);
                ch.read(ph, phoff + (long) i * phentsize);
                if (ph.getInt(0) != PT_NOTE) {
                    continue;
                }
                long off = ph.getLong(8);
                long size = ph.getLong(32);
                if (size > (1 << 20)) {
                    continue;
                }
                ByteBuffer n = ByteBuffer.allocate((int) size).order(ByteOrder.LITTLE_ENDIAN);
                ch.read(n, off);
                int pos = 0;
                while (pos + 12 <= size) {
                    int namesz = n.getInt(pos);
                    int descsz = n.getInt(pos + 4);
                    int type = n.getInt(pos + 8);
                    String name = namesz >= 4 && pos + 12 + 3 <= size
                            ? new String(new byte[] {n.get(pos + 12), n.get(pos + 13), n.get(pos + 14)},
                                    java.nio.charset.StandardCharsets.US_ASCII) : "";
                    if (name.equals("Xen") && type == NOTE_PVH_ENTRY) {
                        return true;
                    }
                    pos += 12 + align4(namesz) + align4(descsz);
                }
            }
            return false;
        }
    }

    private static int align4(int v) {
        return (v + 3) & ~3;
    }
}
