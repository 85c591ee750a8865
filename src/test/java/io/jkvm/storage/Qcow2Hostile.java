package io.jkvm.storage;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Drives {@link Qcow2Image} over a {@link MemoryFile} holding a hostile image: open it, then read,
 * write, zero and flush where the input says. Only {@link IOException} may come out of the
 * parser; the file turns reads outside it and unbounded growth into {@link AssertionError}s.
 */
final class Qcow2Hostile {
    /** qemu-img made these (see the test resources): v3 with 512-byte clusters, v2 with 4 KiB, compressed. */
    static final byte[][] SEEDS = {resource("v3.qcow2"), resource("v2.qcow2"), resource("compressed.qcow2")};
    static final int MAX_REQUEST = 64 * 1024;

    private Qcow2Hostile() {}

    private static byte[] resource(String name) {
        try (InputStream in = Qcow2Hostile.class.getResourceAsStream(name)) {
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One operation on the opened image: kind 0 read, 1 write, 2 write zeroes, 3 flush. */
    record Op(int kind, long offset, int length) {}

    /** Opens {@code content} (no backing files allowed) and runs {@code ops}; true if it opened. */
    static boolean exercise(byte[] content, boolean readOnly, Iterable<Op> ops) {
        MemoryFile f = new MemoryFile(content, readOnly);
        Qcow2Image q;
        try {
            Qcow2Header h = Qcow2Header.read(f, !readOnly);
            if (h.backingFile() != null) {
                return false; // BackingChain refuses it under BackingPolicy.NONE
            }
            q = Qcow2Image.open(f, h, null);
        } catch (IOException refused) {
            return false;
        }
        try (Arena a = Arena.ofConfined(); q) {
            MemorySegment buf = a.allocate(MAX_REQUEST);
            buf.fill((byte) 0x5a);
            for (Op op : ops) {
                long size = q.size();
                if (size == 0) {
                    break;
                }
                long off = Math.floorMod(op.offset(), size);
                int len = (int) Math.min(Math.floorMod(op.length(), MAX_REQUEST + 1), size - off);
                try {
                    switch (op.kind() & 3) {
                        case 0 -> q.read(off, buf.asSlice(0, len));
                        case 1 -> q.write(off, buf.asSlice(0, len));
                        case 2 -> q.writeZeroes(off, len, (op.length() & 1) != 0);
                        default -> q.flush();
                    }
                } catch (IOException refused) {
                    // the expected answer to a bad table entry
                }
            }
        }
        return true;
    }
}
