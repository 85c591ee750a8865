package io.jkvm.image;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Reads the release string ("6.1.0-56-amd64") of an x86 bzImage from its setup header, so the
 * matching {@code /lib/modules/<release>} can be found without trusting the file name.
 */
public final class KernelVersion {
    private KernelVersion() {}

    /**
     * The kernel release of {@code bzImage}: the setup header field kernel_version (offset 0x20E)
     * points to a NUL-terminated string at 0x200 + value whose first word is the release.
     * Falls back to the file name suffix ({@code vmlinuz-<release>}) for images without the field.
     */
    public static String of(Path bzImage) throws IOException {
        Optional<String> fromHeader = fromSetupHeader(bzImage);
        if (fromHeader.isPresent()) {
            return fromHeader.get();
        }
        String name = bzImage.getFileName().toString();
        if (name.startsWith("vmlinuz-")) {
            return name.substring("vmlinuz-".length());
        }
        throw new IOException("cannot find the kernel version of " + bzImage);
    }

    static Optional<String> fromSetupHeader(Path bzImage) throws IOException {
        if (!Files.isRegularFile(bzImage)) {
            throw new IOException("no such kernel image: " + bzImage);
        }
        try (RandomAccessFile f = new RandomAccessFile(bzImage.toFile(), "r")) {
            if (f.length() < 0x210) {
                return Optional.empty();
            }
            byte[] hdr = new byte[4];
            f.seek(0x202);
            f.readFully(hdr);
            if (!new String(hdr, StandardCharsets.US_ASCII).equals("HdrS")) {
                return Optional.empty();
            }
            f.seek(0x20E);
            int ptr = f.readUnsignedByte() | f.readUnsignedByte() << 8;
            long at = 0x200L + ptr;
            if (ptr == 0 || at >= f.length()) {
                return Optional.empty();
            }
            byte[] buf = new byte[(int) Math.min(256, f.length() - at)];
            f.seek(at);
            f.readFully(buf);
            int end = 0;
            while (end < buf.length && buf[end] != 0 && buf[end] != ' ') {
                end++;
            }
            String release = new String(buf, 0, end, StandardCharsets.US_ASCII);
            return release.isEmpty() ? Optional.empty() : Optional.of(release);
        }
    }
}
