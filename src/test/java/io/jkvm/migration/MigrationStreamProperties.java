package io.jkvm.migration;

import io.jkvm.memory.GuestRam;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import net.jqwik.api.lifecycle.AfterContainer;

import java.util.Arrays;
import java.util.List;

import static io.jkvm.migration.StreamFixture.*;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Hostile streams: whatever bytes arrive, the destination accepts a well-formed stream or throws
 * {@link MigrationException}, never anything else (a write outside guest RAM would surface as
 * GuestMemoryException and fail the property), and never allocates what a length field claims
 * before checking it (a 2 GiB claim would be an OutOfMemoryError).
 */
class MigrationStreamProperties {
    private static final byte[] VALID = valid();
    private static final GuestRam RAM_ = GuestRam.allocate(RAM, io.jkvm.memory.RamBacking.PAGES);

    @AfterContainer
    static void free() {
        RAM_.close();
    }

    private static void acceptedOrRefusedCleanly(byte[] stream) {
        try {
            receive(stream, RAM_);
        } catch (MigrationException e) {
            assertThat(e.getMessage()).isNotBlank();
        }
    }

    @Property(tries = 300)
    void randomBytesAfterAValidHeaderAreRefusedCleanly(@ForAll @Size(max = 2048) byte[] tail) {
        byte[] s = Arrays.copyOf(VALID, 12 + tail.length);
        System.arraycopy(tail, 0, s, 12, tail.length);
        acceptedOrRefusedCleanly(s);
    }

    @Property(tries = 300)
    void randomRecordsAfterAValidConfigAreRefusedCleanly(@ForAll @IntRange(min = 0, max = 255) int type,
            @ForAll int length, @ForAll @Size(max = 512) byte[] payload) {
        byte[] head = stream(w -> w.config(CONFIG));
        java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(head.length + 5 + payload.length)
                .put(head).put((byte) type).putInt(length).put(payload);
        acceptedOrRefusedCleanly(b.array());
    }

    @Property(tries = 500)
    void mutatedValidStreamsAreAcceptedOrRefusedCleanly(@ForAll("edits") List<int[]> edits) {
        byte[] s = VALID.clone();
        for (int[] e : edits) {
            s[e[0] % s.length] = (byte) e[1];
        }
        acceptedOrRefusedCleanly(s);
    }

    @Property(tries = 200)
    void truncatedStreamsAreRefused(@ForAll @IntRange(min = 0, max = 20000) int cut) {
        int len = cut % VALID.length;
        try {
            receive(Arrays.copyOf(VALID, len), RAM_);
            throw new AssertionError("a stream cut at " + len + " was accepted");
        } catch (MigrationException e) {
            assertThat(e.getMessage()).contains("ended");
        }
    }

    @Provide
    Arbitrary<List<int[]>> edits() {
        // Edits concentrated on the first record headers and fields, where lengths and gpas live.
        Arbitrary<Integer> where = Arbitraries.oneOf(Arbitraries.integers().between(0, 120),
                Arbitraries.integers().between(0, VALID.length - 1));
        Arbitrary<Integer> value = Arbitraries.oneOf(Arbitraries.of(0, 0xff, 0x7f, 0x80, 1, 2, 0x10, 0x20),
                Arbitraries.integers().between(0, 255));
        return net.jqwik.api.Combinators.combine(where, value).as((w, v) -> new int[] {w, v}).list().ofMinSize(1).ofMaxSize(6);
    }
}
