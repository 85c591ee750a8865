package io.jkvm.device.virtio.input;

import io.jkvm.display.InputSink;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.From;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;
import net.jqwik.api.statistics.Statistics;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

import static io.jkvm.device.virtio.input.InputCodes.*;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * Random InputSink call sequences from a client, interleaved with a guest that takes events
 * only now and then (or never): the devices never hold more than their bound, every delivered
 * group ends in SYN_REPORT with no empty ones, only announced events reach the guest, and once
 * the guest has taken everything it holds exactly the keys and buttons, and sees exactly the
 * position, the client last gave, however many events were dropped on the way.
 */
class VirtioInputSinkProperties {
    sealed interface Op permits Key, Pointer, Wheel, Deliver, Burst {}

    record Key(int code, boolean down) implements Op {}

    record Pointer(int x, int y, int w, int h, int buttons) implements Op {}

    record Wheel(int steps) implements Op {}

    /** A client flood: {@code n} key presses/releases and pointer moves, drawn from {@code seed}. */
    record Burst(long seed, int n) implements Op {
        List<Op> expand() {
            java.util.Random r = new java.util.Random(seed);
            List<Op> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                out.add(r.nextInt(3) == 0 ? new Pointer(r.nextInt(800), r.nextInt(600), 800, 600, r.nextInt(8))
                        : new Key(1 + r.nextInt(40), r.nextBoolean()));
            }
            return out;
        }
    }

    /** The guest takes up to {@code n} events from each device. */
    record Deliver(int n) implements Op {}

    @Provide
    Arbitrary<Op> ops() {
        Arbitrary<Integer> codes = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(6, Arbitraries.integers().between(1, 40)), // a few keys, often repeated
                net.jqwik.api.Tuple.of(2, Arbitraries.integers().between(-3, 0x305)),
                net.jqwik.api.Tuple.of(1, Arbitraries.integers().between(BTN_LEFT, BTN_MIDDLE)),
                net.jqwik.api.Tuple.of(1, Arbitraries.integers()));
        Arbitrary<Integer> coords = Arbitraries.oneOf(Arbitraries.integers().between(-10, 2000), Arbitraries.integers());
        Arbitrary<Integer> sizes = Arbitraries.oneOf(Arbitraries.integers().between(-2, 2000), Arbitraries.integers());
        return Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(5, Combinators.combine(codes, Arbitraries.of(true, false)).as(Key::new)),
                net.jqwik.api.Tuple.of(5, Combinators.combine(coords, coords, sizes, sizes,
                        Arbitraries.oneOf(Arbitraries.integers().between(0, 7), Arbitraries.integers())).as(Pointer::new)),
                net.jqwik.api.Tuple.of(1, Arbitraries.integers().map(Wheel::new)),
                net.jqwik.api.Tuple.of(1, Arbitraries.integers().between(0, 80).map(Deliver::new)),
                net.jqwik.api.Tuple.of(1, Combinators.combine(Arbitraries.longs(), Arbitraries.integers().between(1, 1500))
                        .as(Burst::new)));
    }

    /** What one device's guest has received. */
    static final class Guest {
        final VirtioInput device;
        final List<Long> events = new ArrayList<>();

        Guest(VirtioInput device) {
            this.device = device;
        }

        void take(int max) {
            PendingEvents p = device.pending();
            for (int i = 0; i < max && p.hasNext(); i++) {
                long e = p.next();
                assertThat(device.profile().supports(type(e), code(e))).as("announced: %x", e).isTrue();
                events.add(e);
            }
        }

        BitSet keysDown() {
            BitSet b = new BitSet();
            events.stream().filter(e -> type(e) == EV_KEY).forEach(e -> b.set(code(e), value(e) == 1));
            return b;
        }

        int lastAbs(int axis) {
            int v = -1;
            for (long e : events) {
                if (type(e) == EV_ABS && code(e) == axis) {
                    v = value(e);
                }
            }
            return v;
        }

        void assertFramed() {
            if (events.isEmpty()) {
                return;
            }
            assertThat(events.getLast()).as("the last group ends in SYN_REPORT").isEqualTo(SYN);
            assertThat(events.getFirst()).as("no empty group").isNotEqualTo(SYN);
            for (int i = 1; i < events.size(); i++) {
                if (events.get(i) == SYN) {
                    assertThat(events.get(i - 1)).as("no empty group at %d", i).isNotEqualTo(SYN);
                }
            }
        }
    }

    @Property(tries = 300)
    void boundedFramedAndEndsInTheClientsState(@ForAll @Size(max = 300) List<@From("ops") Op> ops) {
        VirtioInput kbd = VirtioInput.keyboard();
        VirtioInput tab = VirtioInput.tablet();
        InputSink sink = VirtioInput.inputSink(kbd, tab);
        Guest gk = new Guest(kbd);
        Guest gt = new Guest(tab);
        BitSet wantKbd = new BitSet();
        BitSet wantTab = new BitSet();
        int wantX = -1;
        int wantY = -1;
        int bound = PendingEvents.CAPACITY + PendingEvents.MAX_RESYNC;
        List<Op> flat = new ArrayList<>();
        ops.forEach(op -> flat.addAll(op instanceof Burst b ? b.expand() : List.of(op)));
        for (Op op : flat) {
            switch (op) {
                case Key k -> {
                    sink.key(k.code(), k.down());
                    if (kbd.profile().supports(EV_KEY, k.code())) {
                        wantKbd.set(k.code(), k.down());
                    } else if (tab.profile().supports(EV_KEY, k.code())) {
                        wantTab.set(k.code(), k.down());
                    }
                }
                case Pointer p -> {
                    sink.pointer(p.x(), p.y(), p.w(), p.h(), p.buttons());
                    if (p.w() > 0 && p.h() > 0) {
                        wantX = VirtioInputSink.scale(p.x(), p.w());
                        wantY = VirtioInputSink.scale(p.y(), p.h());
                        wantTab.set(BTN_LEFT, (p.buttons() & 1) != 0);
                        wantTab.set(BTN_MIDDLE, (p.buttons() & 2) != 0);
                        wantTab.set(BTN_RIGHT, (p.buttons() & 4) != 0);
                    }
                }
                case Wheel w -> sink.wheel(w.steps());
                case Deliver d -> {
                    gk.take(d.n());
                    gt.take(d.n());
                }
                case Burst b -> throw new AssertionError("expanded above");
            }
            assertThat(kbd.heldEvents()).isLessThanOrEqualTo(bound);
            assertThat(tab.heldEvents()).isLessThanOrEqualTo(bound);
        }
        Statistics.label("events dropped").collect(kbd.droppedEvents() + tab.droppedEvents() > 0);
        Statistics.label("events dropped").coverage(c -> c.check(true).percentage(p -> p > 10));
        gk.take(Integer.MAX_VALUE);
        gt.take(Integer.MAX_VALUE);
        assertThat(kbd.heldEvents()).isZero();
        assertThat(tab.heldEvents()).isZero();
        gk.assertFramed();
        gt.assertFramed();
        assertThat(gk.keysDown()).as("keyboard keys held").isEqualTo(wantKbd);
        assertThat(gt.keysDown()).as("tablet buttons held").isEqualTo(wantTab);
        assertThat(gt.lastAbs(ABS_X)).isEqualTo(wantX);
        assertThat(gt.lastAbs(ABS_Y)).isEqualTo(wantY);
        for (long e : gt.events) {
            if (type(e) == EV_ABS) {
                assertThat(value(e)).isBetween(0, InputProfile.TABLET_MAX);
            }
        }
    }

    /** A driver reset at any point: the new driver ends with the client's state too. */
    @Property(tries = 200)
    void aResetAnywhereStillEndsInTheClientsState(@ForAll @Size(max = 400) List<@From("ops") Op> before,
            @ForAll @Size(max = 400) List<@From("ops") Op> after) {
        VirtioInput kbd = VirtioInput.keyboard();
        InputSink sink = VirtioInput.inputSink(kbd, null);
        Guest g = new Guest(kbd);
        BitSet want = new BitSet();
        for (List<Op> part : List.of(before, after)) {
            List<Op> flat = new ArrayList<>();
            part.forEach(op -> flat.addAll(op instanceof Burst b ? b.expand() : List.of(op)));
            for (Op op : flat) {
                if (op instanceof Key k) {
                    sink.key(k.code(), k.down());
                    if (kbd.profile().supports(EV_KEY, k.code())) {
                        want.set(k.code(), k.down());
                    }
                } else if (op instanceof Deliver d) {
                    g.take(d.n());
                }
            }
            if (part == before) {
                kbd.reset();
                g = new Guest(kbd); // a new driver: a new input device with nothing held
            }
        }
        g.take(Integer.MAX_VALUE);
        g.assertFramed();
        assertThat(g.keysDown()).isEqualTo(want);
    }
}
