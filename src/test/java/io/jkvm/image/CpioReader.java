package io.jkvm.image;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.GZIPInputStream;

/** Test helper: parses a newc cpio archive (optionally gzip'd) back into entries. */
final class CpioReader {
    record Entry(String name, int mode, int rdevMajor, int rdevMinor, byte[] data) {
        int type() {
            return mode & 0170000;
        }
    }

    private CpioReader() {}

    static Map<String, Entry> readGzip(Path file) throws IOException {
        try (InputStream in = new GZIPInputStream(Files.newInputStream(file))) {
            return read(in.readAllBytes());
        }
    }

    static Map<String, Entry> read(byte[] a) {
        Map<String, Entry> entries = new LinkedHashMap<>();
        int pos = 0;
        while (true) {
            String magic = new String(a, pos, 6, StandardCharsets.US_ASCII);
            if (!magic.equals("070701")) {
                throw new IllegalStateException("bad magic at " + pos + ": " + magic);
            }
            long[] f = new long[13];
            for (int i = 0; i < 13; i++) {
                f[i] = Long.parseLong(new String(a, pos + 6 + i * 8, 8, StandardCharsets.US_ASCII), 16);
            }
            int nameSize = (int) f[11];
            String name = new String(a, pos + 110, nameSize - 1, StandardCharsets.UTF_8);
            pos = align(pos + 110 + nameSize);
            int size = (int) f[6];
            if (name.equals("TRAILER!!!")) {
                return entries;
            }
            byte[] data = new byte[size];
            System.arraycopy(a, pos, data, 0, size);
            pos = align(pos + size);
            entries.put(name, new Entry(name, (int) f[1], (int) f[9], (int) f[10], data));
        }
    }

    private static int align(int p) {
        return (p + 3) & ~3;
    }

    static byte[] bytes(CpioWriterAction action) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (CpioWriter w = new CpioWriter(out)) {
            action.write(w);
        }
        return out.toByteArray();
    }

    interface CpioWriterAction {
        void write(CpioWriter w) throws IOException;
    }
}
