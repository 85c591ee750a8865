package io.jkvm.device;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class BusTest {
    /** Records accesses; reads return offset * 0x10 + size so tests can see what arrived. */
    static final class Probe implements BusDevice {
        final List<String> log = new ArrayList<>();

        @Override
        public long read(long offset, int size) {
            log.add("r " + offset + " " + size);
            return offset * 0x10 + size;
        }

        @Override
        public void write(long offset, int size, long value) {
            log.add("w " + offset + " " + size + " " + Long.toHexString(value));
        }
    }

    @Test
    void dispatchesWithOffsetRelativeToBase() {
        Bus bus = new Bus("pio");
        Probe a = new Probe();
        Probe b = new Probe();
        bus.register(0x3f8, 8, a);
        bus.register(0x60, 5, b);

        assertThat(bus.read(0x3fd, 1)).isEqualTo(5 * 0x10 + 1);
        bus.write(0x64, 1, 0xfe);
        bus.write(0x3f8, 2, 0x1234);

        assertThat(a.log).containsExactly("r 5 1", "w 0 2 1234");
        assertThat(b.log).containsExactly("w 4 1 fe");
    }

    @Test
    void unmappedReadsAllOnesMaskedToSizeAndWritesAreDropped() {
        Bus bus = new Bus("mmio");
        Probe p = new Probe();
        bus.register(0x1000, 0x100, p);

        assertThat(bus.read(0x0, 1)).isEqualTo(0xffL);
        assertThat(bus.read(0x2000, 2)).isEqualTo(0xffffL);
        assertThat(bus.read(0xfff, 4)).isEqualTo(0xffff_ffffL);
        assertThat(bus.read(0x1100, 8)).isEqualTo(-1L);
        bus.write(0x1100, 4, 1);
        bus.write(-5, 4, 1);
        assertThat(p.log).isEmpty();
    }

    @Test
    void accessStraddlingTheEndOfADeviceIsUnmapped() {
        Bus bus = new Bus("mmio");
        Probe p = new Probe();
        bus.register(0x1000, 0x10, p);

        assertThat(bus.read(0x100e, 4)).isEqualTo(0xffff_ffffL);
        bus.write(0x100f, 2, 0);
        assertThat(p.log).isEmpty();
        assertThat(bus.read(0x100c, 4)).isEqualTo(0xc * 0x10 + 4); // exactly fits
    }

    @Test
    void invalidAccessSizesAreTreatedAsUnmapped() {
        Bus bus = new Bus("mmio");
        Probe p = new Probe();
        bus.register(0, 0x100, p);
        assertThat(bus.read(0x10, 3)).isEqualTo(0xff_ffffL);
        assertThat(bus.read(0x10, 0)).isZero();
        assertThat(bus.read(0x10, -1)).isZero();
        bus.write(0x10, 16, 1);
        assertThat(p.log).isEmpty();
    }

    @Test
    void deviceReadValuesAreMaskedToTheAccessSize() {
        Bus bus = new Bus("pio");
        bus.register(0, 4, new BusDevice() {
            @Override
            public long read(long offset, int size) {
                return -1L;
            }

            @Override
            public void write(long offset, int size, long value) {}
        });
        assertThat(bus.read(0, 1)).isEqualTo(0xff);
        assertThat(bus.read(0, 2)).isEqualTo(0xffff);
    }

    @Test
    void writeValuesAreMaskedToTheAccessSize() {
        Bus bus = new Bus("pio");
        Probe p = new Probe();
        bus.register(0, 4, p);
        bus.write(0, 1, 0x1234_5678L);
        assertThat(p.log).containsExactly("w 0 1 78");
    }

    @Test
    void rejectsOverlapNamingBothRanges() {
        Bus bus = new Bus("pio");
        bus.register(0x60, 5, new Probe());

        assertThatThrownBy(() -> bus.register(0x64, 2, new Probe()))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("0x64").hasMessageContaining("0x60").hasMessageContaining("pio");
        assertThatThrownBy(() -> bus.register(0x50, 0x11, new Probe()))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> bus.register(0x0, 0x1000, new Probe()))
                .isInstanceOf(IllegalArgumentException.class);
        // Adjacent ranges are fine.
        bus.register(0x65, 1, new Probe());
        bus.register(0x5f, 1, new Probe());
        assertThat(bus.registrations()).extracting(Bus.Registration::base).containsExactly(0x5fL, 0x60L, 0x65L);
    }

    @Test
    void rejectsEmptyNegativeAndOverflowingRanges() {
        Bus bus = new Bus("mmio");
        assertThatThrownBy(() -> bus.register(0x1000, 0, new Probe())).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("0x1000");
        assertThatThrownBy(() -> bus.register(0x1000, -4, new Probe())).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> bus.register(-1, 4, new Probe())).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> bus.register(Long.MAX_VALUE - 2, 4, new Probe()))
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(bus.registrations()).isEmpty();
    }

    @Test
    void unregisterByHandleAndByBase() {
        Bus bus = new Bus("mmio");
        Probe p = new Probe();
        Bus.Registration r = bus.register(0x1000, 0x1000, p);
        bus.register(0x3000, 0x1000, new Probe());

        assertThat(r.unregister()).isTrue();
        assertThat(r.unregister()).isFalse();
        assertThat(bus.read(0x1000, 4)).isEqualTo(0xffff_ffffL);
        // The range can be reused, and a stale handle does not remove the new mapping.
        Bus.Registration again = bus.register(0x1000, 0x10, new Probe());
        assertThat(bus.unregister(r)).isFalse();
        assertThat(bus.find(0x1000, 1)).isSameAs(again);

        assertThat(bus.unregister(0x3000)).isTrue();
        assertThat(bus.unregister(0x3000)).isFalse();
        assertThat(bus.unregister(0x1001)).isFalse();
        assertThat(bus.registrations()).containsExactly(again);
    }

    @Test
    void findsAmongManyDevices() {
        Bus bus = new Bus("mmio");
        List<Probe> probes = new ArrayList<>();
        // Register in a scrambled order to exercise sorted insertion.
        for (int i = 0; i < 64; i++) {
            int slot = (i * 37) % 64;
            Probe p = new Probe();
            probes.add(p);
            bus.register(slot * 0x100L, 0x80, p);
        }
        for (int slot = 0; slot < 64; slot++) {
            Bus.Registration r = bus.find(slot * 0x100L + 0x7f, 1);
            assertThat(r).isNotNull();
            assertThat(r.base()).isEqualTo(slot * 0x100L);
            assertThat(bus.find(slot * 0x100L + 0x80, 1)).isNull();
        }
    }

    @Test
    void concurrentReadersSeeOldOrNewMappingDuringRegistration() throws Exception {
        Bus bus = new Bus("mmio");
        bus.register(0, 0x10, new Probe());
        CountDownLatch start = new CountDownLatch(1);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread reader = new Thread(() -> {
            try {
                start.await();
                for (int i = 0; i < 50_000; i++) {
                    long v = bus.read(0x4, 1);
                    if (v != 0x4 * 0x10 + 1) {
                        throw new AssertionError("device at 0 lost: " + v);
                    }
                }
            } catch (Throwable t) {
                failure.set(t);
            }
        });
        reader.start();
        start.countDown();
        for (int i = 1; i < 500; i++) {
            Bus.Registration r = bus.register(i * 0x100L, 0x10, new Probe());
            if (i % 2 == 0) {
                r.unregister();
            }
        }
        reader.join(TimeUnit.SECONDS.toMillis(30));
        assertThat(reader.isAlive()).isFalse();
        assertThat(failure.get()).isNull();
    }
}
