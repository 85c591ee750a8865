package io.jkvm.storage;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Hostile qcow2 images: edits to qemu-made images (header, extensions, L1/L2 tables, refcount
 * structures) are opened and used read-only and read-write; only {@link IOException} may come
 * out, and {@link MemoryFile} fails the property on any read outside the file or growth past its
 * bound. And a model check: on a valid image, any sequence of writes and zeroings reads back as a
 * plain byte array says.
 */
class Qcow2Properties {
    @Property(tries = 400)
    void editedImagesOpenOrAreRefusedWithIOExceptionOnly(@ForAll @IntRange(min = 0, max = 2) int seed,
            @ForAll("edits") List<int[]> edits, @ForAll("ops") List<Qcow2Hostile.Op> ops) {
        byte[] image = Qcow2Hostile.SEEDS[seed].clone();
        for (int[] e : edits) {
            // Most edits hit the metadata at the front (header, L1, refcount table and blocks, L2 tables).
            int at = e[0] % Math.min(image.length, e[2] == 0 ? image.length : 8192);
            image[at] = (byte) e[1];
        }
        Qcow2Hostile.exercise(image, true, ops);
        Qcow2Hostile.exercise(image, false, ops);
    }

    @Property(tries = 150)
    void writesAndZeroesReadBackAsTheModelSays(@ForAll @IntRange(min = 0, max = 2) int seed,
            @ForAll("ops") List<Qcow2Hostile.Op> ops) throws IOException {
        MemoryFile f = new MemoryFile(Qcow2Hostile.SEEDS[seed], false);
        try (Qcow2Image q = Qcow2Image.open(f, Qcow2Header.read(f, true), null); Arena a = Arena.ofConfined()) {
            int size = Math.toIntExact(q.size());
            byte[] model = QemuImg.readAll(q, 4096);
            byte fill = 1;
            for (Qcow2Hostile.Op op : ops) {
                int off = (int) Math.floorMod(op.offset(), size);
                int len = Math.min(Math.floorMod(op.length(), 20_000) + 1, size - off);
                switch (op.kind() & 3) {
                    case 1 -> {
                        byte[] data = new byte[len];
                        Arrays.fill(data, fill++);
                        QemuImg.write(q, off, data);
                        System.arraycopy(data, 0, model, off, len);
                    }
                    case 2 -> {
                        q.writeZeroes(off, len, (op.length() & 1) != 0);
                        Arrays.fill(model, off, off + len, (byte) 0);
                    }
                    case 3 -> q.flush();
                    default -> {
                        MemorySegment buf = a.allocate(len);
                        q.read(off, buf);
                        assertThat(buf.toArray(ValueLayout.JAVA_BYTE)).isEqualTo(Arrays.copyOfRange(model, off, off + len));
                    }
                }
            }
            assertThat(QemuImg.readAll(q, 3 * 512)).isEqualTo(model);
        }
        // And the file reopens to the same contents.
        MemoryFile again = new MemoryFile(f.content(), true);
        try (Qcow2Image q = Qcow2Image.open(again, Qcow2Header.read(again, false), null)) {
            assertThat(QemuImg.readAll(q, 4096)).hasSize(Math.toIntExact(q.size()));
        }
    }

    @Provide
    Arbitrary<List<int[]>> edits() {
        Arbitrary<int[]> edit = Combinators.combine(Arbitraries.integers().between(0, Integer.MAX_VALUE),
                Arbitraries.integers().between(0, 255), Arbitraries.integers().between(0, 3))
                .as((at, value, wide) -> new int[] {at, value, wide});
        return edit.list().ofMinSize(1).ofMaxSize(12);
    }

    @Provide
    Arbitrary<List<Qcow2Hostile.Op>> ops() {
        Arbitrary<Qcow2Hostile.Op> op = Combinators.combine(Arbitraries.integers().between(0, 3),
                Arbitraries.longs().between(0, 1L << 20), Arbitraries.integers().between(0, 70_000))
                .as(Qcow2Hostile.Op::new);
        return op.list().ofMaxSize(8);
    }
}
