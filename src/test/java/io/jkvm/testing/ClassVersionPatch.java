package io.jkvm.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;

/**
 * Class files Jazzer 0.24's ASM can read (see {@link JazzerOnJava25}): the major version of a
 * Java 24+ class file lowered to 67 (Java 23), nothing else changed. As a program it copies a
 * tree of class files doing that: {@code ClassVersionPatch FROM TO} (bin/fuzz uses it).
 */
public final class ClassVersionPatch {
    /** The newest class file version Jazzer 0.24's ASM reads. */
    static final int READABLE = 67;

    private ClassVersionPatch() {}

    /** {@code b} with its major version lowered, or null when it needs no change (or is not a class file). */
    static byte[] lowered(byte[] b) {
        if (b == null || b.length < 8 || (b[0] & 0xff) != 0xca || (b[1] & 0xff) != 0xfe || (b[2] & 0xff) != 0xba
                || (b[3] & 0xff) != 0xbe) {
            return null;
        }
        int minor = ((b[4] & 0xff) << 8) | (b[5] & 0xff);
        int major = ((b[6] & 0xff) << 8) | (b[7] & 0xff);
        if (major <= READABLE || minor != 0) { // minor 0xffff: preview features, which must not be relabelled
            return null;
        }
        byte[] c = b.clone();
        c[6] = 0;
        c[7] = (byte) READABLE;
        return c;
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: ClassVersionPatch FROM-DIR TO-DIR");
            System.exit(2);
        }
        Path from = Path.of(args[0]);
        Path to = Path.of(args[1]);
        try (Stream<Path> files = Files.walk(from)) {
            for (Path p : (Iterable<Path>) files::iterator) {
                Path dst = to.resolve(from.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(dst);
                } else {
                    byte[] b = Files.readAllBytes(p);
                    byte[] l = p.toString().endsWith(".class") ? lowered(b) : null;
                    Files.write(dst, l != null ? l : b);
                }
            }
        }
    }
}
