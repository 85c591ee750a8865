package io.jkvm.device;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

class BusProperties {
    /** A device that answers garbage wider than the access, to check the bus masks it. */
    static final BusDevice NOISY = new BusDevice() {
        @Override
        public long read(long offset, int size) {
            return 0xdead_beef_cafe_f00dL ^ offset;
        }

        @Override
        public void write(long offset, int size, long value) {}
    };

    record Range(long base, long length) {}

    @Provide
    Arbitrary<List<AccessOp>> ops() {
        return AccessOp.hostileSequences(-0x10, 0x1100);
    }

    @Provide
    Arbitrary<List<Range>> ranges() {
        return Combinators.combine(Arbitraries.longs().between(-2, 0x1000), Arbitraries.longs().between(-1, 0x200))
                .as(Range::new).list().ofMaxSize(40);
    }

    @Property(tries = 200)
    void readsAreMaskedAndNothingThrows(@ForAll("ops") List<AccessOp> ops) {
        Bus bus = new Bus("mmio");
        bus.register(0x10, 0x30, NOISY);
        bus.register(0x100, 1, NOISY);
        bus.register(0x800, 0x800, NOISY);
        for (AccessOp op : ops) {
            if (op.write()) {
                bus.write(op.offset(), op.size(), op.value());
            } else {
                long v = bus.read(op.offset(), op.size());
                assertThat(v & ~AccessOp.mask(op.size())).isZero();
            }
        }
    }

    @Property(tries = 200)
    void lookupAgreesWithLinearScan(@ForAll("ranges") List<Range> candidates,
            @ForAll("ops") List<AccessOp> probes) {
        Bus bus = new Bus("mmio");
        List<Range> accepted = new ArrayList<>();
        for (Range r : candidates) {
            boolean overlaps = accepted.stream().anyMatch(a -> r.base() < a.base() + a.length()
                    && a.base() < r.base() + r.length());
            boolean valid = r.length() > 0 && r.base() >= 0 && !overlaps;
            try {
                bus.register(r.base(), r.length(), NOISY);
                assertThat(valid).as("accepted %s", r).isTrue();
                accepted.add(r);
            } catch (IllegalArgumentException e) {
                assertThat(valid).as("rejected %s: %s", r, e.getMessage()).isFalse();
            }
        }
        for (AccessOp p : probes) {
            int size = Math.max(1, Math.min(8, p.size()));
            Range expected = accepted.stream()
                    .filter(a -> p.offset() >= a.base() && p.offset() - a.base() <= a.length() - size)
                    .findFirst().orElse(null);
            Bus.Registration found = bus.find(p.offset(), size);
            if (expected == null) {
                assertThat(found).isNull();
            } else {
                assertThat(found).isNotNull();
                assertThat(found.base()).isEqualTo(expected.base());
            }
        }
    }
}
