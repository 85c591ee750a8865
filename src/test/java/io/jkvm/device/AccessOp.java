package io.jkvm.device;

import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;

/** One guest access for property tests: a read or a write of {@code size} bytes at {@code offset}. */
public record AccessOp(boolean write, long offset, int size, long value) {
    /** Sizes a {@link BusDevice} can be handed by a {@link Bus}. */
    public static final List<Integer> VALID_SIZES = List.of(1, 2, 4, 8);

    /** Random access sequences with offsets in [minOffset, maxOffset] and valid sizes. */
    public static Arbitrary<List<AccessOp>> sequences(long minOffset, long maxOffset) {
        return ops(minOffset, maxOffset, Arbitraries.of(VALID_SIZES)).list().ofMaxSize(300);
    }

    /** One random access with an offset in [minOffset, maxOffset] and a valid size. */
    public static Arbitrary<AccessOp> single(long minOffset, long maxOffset) {
        return ops(minOffset, maxOffset, Arbitraries.of(VALID_SIZES));
    }

    /** As {@link #sequences} but with hostile sizes too (0, negative, odd, huge). */
    public static Arbitrary<List<AccessOp>> hostileSequences(long minOffset, long maxOffset) {
        return ops(minOffset, maxOffset, Arbitraries.oneOf(Arbitraries.of(VALID_SIZES),
                Arbitraries.integers().between(-3, 16), Arbitraries.of(Integer.MIN_VALUE, Integer.MAX_VALUE)))
                .list().ofMaxSize(300);
    }

    private static Arbitrary<AccessOp> ops(long minOffset, long maxOffset, Arbitrary<Integer> sizes) {
        Arbitrary<Long> offsets = Arbitraries.oneOf(Arbitraries.longs().between(minOffset, maxOffset),
                Arbitraries.of(Long.MIN_VALUE, -1L, Long.MAX_VALUE));
        Arbitrary<Long> values = Arbitraries.oneOf(Arbitraries.longs(),
                Arbitraries.of(0L, -1L, 0xffL, 0x80L, 0xfeL, 0xaaL, 0x20L, 0x60L));
        return Combinators.combine(Arbitraries.of(true, false), offsets, sizes, values).as(AccessOp::new);
    }

    /** Applies the op; returns the value read (0 for writes). */
    public long applyTo(BusDevice dev) {
        if (write) {
            dev.write(offset, size, value);
            return 0;
        }
        return dev.read(offset, size);
    }

    public static long mask(int size) {
        return Bus.sizeMask(size);
    }
}
