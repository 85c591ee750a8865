package io.jkvm.storage;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Runs qemu-img / qemu-io (Debian's qemu-utils), the reference implementation tests check against. */
final class QemuImg {
    static final Path QEMU_IMG = Path.of("/usr/bin/qemu-img");
    static final Path QEMU_IO = Path.of("/usr/bin/qemu-io");

    private QemuImg() {}

    static boolean available() {
        return Files.isExecutable(QEMU_IMG);
    }

    record Result(int exit, String output) {}

    /** Runs {@code args}, returning the exit status and the combined output. */
    static Result run(String... args) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(args).redirectErrorStream(true);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        try {
            return new Result(p.waitFor(), out);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    /** Runs {@code args}, which must succeed. */
    static String ok(String... args) throws IOException {
        Result r = run(args);
        if (r.exit() != 0) {
            throw new AssertionError(String.join(" ", args) + " exited " + r.exit() + ": " + r.output());
        }
        return r.output();
    }

    static String img(String... args) throws IOException {
        List<String> a = new ArrayList<>(List.of(QEMU_IMG.toString()));
        a.addAll(List.of(args));
        return ok(a.toArray(String[]::new));
    }

    /** qemu-io with one command per {@code -c}, on an image of {@code format}. */
    static void io(Path image, String format, String... commands) throws IOException {
        List<String> a = new ArrayList<>(List.of(QEMU_IO.toString(), "-f", format));
        for (String c : commands) {
            a.add("-c");
            a.add(c);
        }
        a.add(image.toString());
        String out = ok(a.toArray(String[]::new));
        if (out.contains("error") || out.contains("failed")) {
            throw new AssertionError("qemu-io: " + out);
        }
    }

    /** The guest-visible bytes of {@code image} as qemu sees them (qemu-img convert -O raw). */
    static byte[] asRaw(Path image, String format) throws IOException {
        Path raw = image.resolveSibling(image.getFileName() + ".raw");
        img("convert", "-f", format, "-O", "raw", image.toString(), raw.toString());
        byte[] b = Files.readAllBytes(raw);
        Files.delete(raw);
        return b;
    }

    /** qemu-img check's exit status (0 clean, 2 corruptions, 3 leaks only) and report. */
    static Result check(Path image) throws IOException {
        return run(QEMU_IMG.toString(), "check", "-f", "qcow2", image.toString());
    }

    /** Everything {@code image} shows, read through {@link DiskImage#read} in {@code chunk}-byte requests. */
    static byte[] readAll(DiskImage image, int chunk) throws IOException {
        byte[] all = new byte[Math.toIntExact(image.size())];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(chunk);
            for (long off = 0; off < all.length; off += chunk) {
                int n = (int) Math.min(chunk, all.length - off);
                image.read(off, buf.asSlice(0, n));
                MemorySegment.copy(buf, ValueLayout.JAVA_BYTE, 0, all, (int) off, n);
            }
        }
        return all;
    }

    /** Writes {@code data} at {@code offset} through {@link DiskImage#write} (guest memory is native). */
    static void write(DiskImage image, long offset, byte[] data) throws IOException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(Math.max(1, data.length));
            MemorySegment.copy(data, 0, buf, ValueLayout.JAVA_BYTE, 0, data.length);
            image.write(offset, buf.asSlice(0, data.length));
        }
    }
}
