package io.jkvm.storage;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

import java.io.IOException;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Without qemu, in memory: an image {@link Qcow2Creator} made takes any writes, reads them back
 * as a byte array says, and {@link Qcow2Checker} finds it clean afterwards (refcount-table growth
 * included: 512-byte clusters outgrow the first table at 8 MiB of file). And the checker on
 * edited images only ever returns a report or throws an {@link IOException}, reading nothing
 * outside the file ({@link MemoryFile} fails the property otherwise).
 */
class Qcow2CreateProperties {
    record Write(int offset, int length, byte fill) {}

    @Property(tries = 60)
    void createdImagesRoundTripAndCheckClean(@ForAll @IntRange(min = 9, max = 16) int clusterBits,
            @ForAll @IntRange(min = 1, max = 24) int sizeMiB, @ForAll("writes") List<Write> writes) throws IOException {
        long size = (long) sizeMiB << 20;
        MemoryFile f = new MemoryFile(new byte[0], false);
        Qcow2Creator.write(f, size, clusterBits, null, null);
        byte[] model = new byte[(int) size];
        try (Qcow2Image q = Qcow2Image.open(f, Qcow2Header.read(f, true), null)) {
            for (Write w : writes) {
                int off = Math.floorMod(w.offset(), (int) size);
                int len = Math.min(w.length(), (int) size - off);
                byte[] data = new byte[len];
                Arrays.fill(data, w.fill());
                QemuImg.write(q, off, data);
                System.arraycopy(data, 0, model, off, len);
            }
            assertThat(QemuImg.readAll(q, 1 << 20)).isEqualTo(model);
        }
        Qcow2Checker.Report r = Qcow2Checker.check(new MemoryFile(f.content(), true));
        assertThat(r.exitCode()).as(r.lines().toString()).isZero();
    }

    @Property(tries = 300)
    void checkerOnEditedImagesReportsOrThrowsIOExceptionOnly(@ForAll @IntRange(min = 0, max = 2) int seed,
            @ForAll("edits") List<int[]> edits) {
        byte[] image = Qcow2Hostile.SEEDS[seed].clone();
        for (int[] e : edits) {
            int at = e[0] % Math.min(image.length, e[2] == 0 ? image.length : 8192);
            image[at] = (byte) e[1];
        }
        try {
            Qcow2Checker.Report r = Qcow2Checker.check(new MemoryFile(image, true));
            assertThat(r.exitCode()).isBetween(0, 3);
        } catch (IOException e) {
            assertThat(e.getMessage()).isNotBlank();
        }
    }

    @Provide
    Arbitrary<List<Write>> writes() {
        Arbitrary<Write> w = Combinators.combine(Arbitraries.integers().between(0, Integer.MAX_VALUE),
                Arbitraries.integers().between(1, 3 << 20), Arbitraries.bytes())
                .as(Write::new);
        return w.list().ofMaxSize(6);
    }

    @Provide
    Arbitrary<List<int[]>> edits() {
        Arbitrary<int[]> edit = Combinators.combine(Arbitraries.integers().between(0, Integer.MAX_VALUE),
                Arbitraries.integers().between(0, 255), Arbitraries.integers().between(0, 3))
                .as((at, value, wide) -> new int[] {at, value, wide});
        return edit.list().ofMinSize(1).ofMaxSize(12);
    }
}
