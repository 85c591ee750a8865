package io.jkvm.device.virtio.input;

import io.jkvm.display.InputSink;
import io.jkvm.device.virtio.DriverQueue;
import io.jkvm.device.virtio.VirtioDriver;
import io.jkvm.device.virtio.pci.VirtioPciLayout;
import io.jkvm.device.virtio.pci.VirtioPciState;
import io.jkvm.vmm.DeviceStateFormat;
import io.jkvm.snapshot.DeviceState;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;

import static io.jkvm.device.virtio.input.InputCodes.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Events through the eventq of a PCI virtio-input function driven from guest memory: order,
 * SYN_REPORT framing, the InputSink mapping, and a guest that misbehaves (no buffers, tiny or
 * read-only buffers, status garbage, a flood) without the device breaking or holding more than
 * its bound.
 */
class VirtioInputTest {
    private static long key(int code, int v) {
        return pack(EV_KEY, code, v);
    }

    private static long abs(int axis, int v) {
        return pack(EV_ABS, axis, v);
    }

    /** Delivers everything held, reposting buffers as Linux does, and returns the events in order. */
    private static List<Long> drainAll(InputGuest g) {
        List<Long> all = new ArrayList<>();
        for (int round = 0; round < 1000; round++) {
            g.drv.syncIo();
            List<Long> got = g.collectAndRepost();
            all.addAll(got);
            if (got.isEmpty() && g.device.heldEvents() == 0) {
                g.drv.syncIo();
                all.addAll(g.collectAndRepost());
                return all;
            }
        }
        throw new AssertionError("events never drained");
    }

    private static void assertGroupsEndInSyn(List<Long> events) {
        assertThat(events).as("stream ends with SYN_REPORT").isNotEmpty().last().isEqualTo(SYN);
        for (int i = 1; i < events.size(); i++) {
            assertThat(events.get(i) == SYN && events.get(i - 1) == SYN).as("empty group at %d", i).isFalse();
        }
    }

    @Test
    void keysArriveInOrderEachFramedBySynReport() {
        VirtioInput kbd = VirtioInput.keyboard();
        try (InputGuest g = new InputGuest(kbd)) {
            InputSink sink = VirtioInput.inputSink(kbd, null);
            g.postRange(0, 8);
            sink.key(30, true); // KEY_A
            sink.key(30, false);
            sink.key(42, true); // KEY_LEFTSHIFT
            g.awaitUsed(6);
            List<int[]> used = g.takeUsed();
            assertThat(used).extracting(u -> u[0]).containsExactly(0, 1, 2, 3, 4, 5);
            assertThat(used).extracting(u -> u[1]).containsOnly(8);
            List<Long> events = new ArrayList<>();
            used.forEach(u -> events.add(g.event(u[0])));
            assertThat(events).containsExactly(key(30, 1), SYN, key(30, 0), SYN, key(42, 1), SYN);
            assertThat(g.drv.gm.memory.read(InputGuest.EVENTS, 8)).as("wire format of KEY_A down")
                    .containsExactly(1, 0, 30, 0, 1, 0, 0, 0);
            g.assertHealthy();
        }
    }

    @Test
    void pointerButtonsAndWheelBecomeTabletGroups() {
        VirtioInput tab = VirtioInput.tablet();
        try (InputGuest g = new InputGuest(tab)) {
            InputSink sink = VirtioInput.inputSink(null, tab);
            g.postRange(0, 64);
            sink.pointer(0, 0, 1024, 768, 0);
            sink.pointer(1023, 767, 1024, 768, 0b001); // far corner, left down
            sink.pointer(1023, 767, 1024, 768, 0b001); // nothing changed: no group
            sink.pointer(5000, -7, 1024, 768, 0b110); // clamped; left up, middle and right down
            sink.wheel(-2);
            sink.pointer(1, 1, 0, 768, 0); // no screen: ignored
            sink.key(BTN_LEFT, true); // a button sent as a key goes to the tablet
            sink.key(30, true); // not a tablet code, no keyboard: ignored
            List<Long> events = drainAll(g);
            assertThat(events).containsExactly(
                    abs(ABS_X, 0), abs(ABS_Y, 0), SYN,
                    abs(ABS_X, 32767), abs(ABS_Y, 32767), key(BTN_LEFT, 1), SYN,
                    abs(ABS_Y, 0), key(BTN_LEFT, 0), key(BTN_MIDDLE, 1), key(BTN_RIGHT, 1), SYN,
                    pack(EV_REL, REL_WHEEL, -2), SYN,
                    key(BTN_LEFT, 1), SYN);
            g.assertHealthy();
        }
    }

    @Test
    void scalingMapsTheScreenOntoTheWholeAxis() {
        assertThat(VirtioInputSink.scale(0, 800)).isZero();
        assertThat(VirtioInputSink.scale(799, 800)).isEqualTo(32767);
        assertThat(VirtioInputSink.scale(400, 801)).isEqualTo(16384);
        assertThat(VirtioInputSink.scale(Integer.MAX_VALUE, Integer.MAX_VALUE)).isEqualTo(32767);
        assertThat(VirtioInputSink.scale(Integer.MIN_VALUE, 10)).isZero();
        assertThat(VirtioInputSink.scale(3, 1)).isZero();
    }

    @Test
    void unknownKeyCodesAreIgnored() {
        VirtioInput kbd = VirtioInput.keyboard();
        InputSink sink = VirtioInput.inputSink(kbd, VirtioInput.tablet());
        for (int code : new int[] {0, -1, 0x300, Integer.MAX_VALUE, 0x2ff, 0x200}) {
            sink.key(code, true);
        }
        assertThat(kbd.heldEvents()).isZero();
    }

    @Test
    void aGuestPostingNoBuffersLosesOldEventsButNotTheKeyState() {
        VirtioInput kbd = VirtioInput.keyboard();
        try (InputGuest g = new InputGuest(kbd)) {
            InputSink sink = VirtioInput.inputSink(kbd, null);
            sink.key(29, true); // KEY_LEFTCTRL held through the flood
            for (int i = 0; i < 100_000; i++) {
                sink.key(30 + i % 20, i % 3 != 0);
                assertThat(kbd.heldEvents()).isLessThanOrEqualTo(PendingEvents.CAPACITY + PendingEvents.MAX_RESYNC);
            }
            sink.key(31, true); // KEY_S: the newest press must survive
            assertThat(kbd.droppedEvents()).isPositive();
            g.drv.syncIo();
            assertThat(g.takeUsed()).as("nothing delivered without buffers").isEmpty();
            g.assertHealthy();

            g.postRange(0, 64);
            List<Long> events = drainAll(g);
            assertGroupsEndInSyn(events);
            BitSet down = new BitSet();
            for (long e : events) {
                if (type(e) == EV_KEY) {
                    down.set(code(e), value(e) == 1);
                }
            }
            assertThat(down).as("the guest ends with exactly the keys the host holds").isEqualTo(kbd.pending().hostKeys());
            assertThat(down.get(29) && down.get(31)).isTrue();
            assertThat(events.size()).isLessThanOrEqualTo(PendingEvents.CAPACITY + PendingEvents.MAX_RESYNC);
            g.assertHealthy();
        }
    }

    @Test
    void tinyAndReadOnlyBuffersAreReturnedEmptyAndCostNoEvent() {
        VirtioInput kbd = VirtioInput.keyboard();
        try (InputGuest g = new InputGuest(kbd)) {
            kbd.offer(key(30, 1));
            g.post(0, 4, InputGuest.WRITE); // too short
            g.post(1, 8, 0); // device-readable only
            g.post(2, 0, InputGuest.WRITE); // empty
            g.post(3, 16, InputGuest.WRITE); // longer is fine: 8 bytes used
            g.post(4, 8, InputGuest.WRITE);
            g.awaitUsed(5);
            List<int[]> used = g.takeUsed();
            assertThat(used).extracting(u -> u[0]).containsExactly(0, 1, 2, 3, 4);
            assertThat(used).extracting(u -> u[1]).containsExactly(0, 0, 0, 8, 8);
            assertThat(g.event(3)).isEqualTo(key(30, 1));
            assertThat(g.event(4)).isEqualTo(SYN);
            assertThat(kbd.badBuffers()).isEqualTo(3);
            g.assertHealthy();
        }
    }

    @Test
    void statusEventsSetLedsAndGarbageIsSwallowed() {
        VirtioInput kbd = VirtioInput.keyboard();
        try (InputGuest g = new InputGuest(kbd)) {
            g.status(new byte[] {0x11, 0, 1, 0, 1, 0, 0, 0}, 0); // EV_LED LED_CAPSL on
            g.status(new byte[] {0x11, 0, 0, 0, 1, 0, 0, 0}, 0); // EV_LED LED_NUML on
            g.status(new byte[] {0x11, 0, 0, 0, 0, 0, 0, 0}, 0); // LED_NUML off
            g.status(new byte[] {0x11, 0, 9, 0, 1, 0, 0, 0}, 0); // LED_MAIL: not announced
            g.status(new byte[] {(byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 1, 2, 3, 4}, 0); // nonsense
            g.status(new byte[] {0x11, 0}, 0); // short
            g.status(new byte[] {0x11, 0, 2, 0, 1, 0, 0, 0}, InputGuest.WRITE); // writable: nothing to read
            g.status(new byte[] {0x14, 0, 0, 0, (byte) 250, 0, 0, 0, 0x55, 0x55}, 0); // EV_REP, longer: fine
            g.drv.awaitUsed(g.stq, 8);
            for (int i = 0; i < 8; i++) {
                assertThat(g.stq.usedElem(i)[1]).as("status buffers are only read").isZero();
            }
            assertThat(kbd.leds()).isEqualTo(1 << LED_CAPSL);
            assertThat(kbd.statusEvents()).isEqualTo(6);
            assertThat(kbd.badBuffers()).isEqualTo(2);
            g.assertHealthy();
        }
    }

    @Test
    void aResetDropsPendingEventsAndResendsWhatIsHeld() {
        VirtioInput tab = VirtioInput.tablet();
        InputSink sink = VirtioInput.inputSink(null, tab);
        try (InputGuest g = new InputGuest(tab)) {
            sink.pointer(10, 20, 100, 100, 0b001);
            sink.wheel(3);
            g.drv.setStatus(0); // driver reset
            g.assertHealthy();
        }
        try (InputGuest g = new InputGuest(tab)) {
            g.postRange(0, 64);
            List<Long> events = drainAll(g);
            assertThat(events).as("the new driver learns the held button and the position, not the old wheel")
                    .containsExactly(key(BTN_LEFT, 1), abs(ABS_X, 3310), abs(ABS_Y, 6620), SYN);
        }
    }

    @Test
    void eventsOfferedBeforeTheDriverIsReadyArriveOnceItIs() {
        VirtioInput kbd = VirtioInput.keyboard();
        kbd.offer(key(2, 1)); // KEY_1
        try (InputGuest g = new InputGuest(kbd)) {
            g.postRange(0, 4);
            assertThat(drainAll(g)).containsExactly(key(2, 1), SYN);
        }
    }

    @Test
    void stateRoundTripsAndARestoredGuestReleasesItsKeys() throws Exception {
        VirtioInput kbd = VirtioInput.keyboard();
        try (InputGuest g = new InputGuest(kbd)) {
            g.postRange(0, 8);
            kbd.offer(key(30, 1));
            kbd.offer(key(56, 1));
            g.awaitUsed(4);
            g.drv.write(VirtioPciLayout.DEVICE_OFFSET, 1, 0x11);
            g.drv.write(VirtioPciLayout.DEVICE_OFFSET + 1, 1, 0x14);
            g.drv.dev.suspendIo();
            VirtioPciState pci = g.drv.dev.save();
            VirtioInput.State saved = (VirtioInput.State) pci.device();
            assertThat(saved).isEqualTo(new VirtioInput.State(0x11, 0x14, List.of(30, 56)));
            DeviceState enc = DeviceStateFormat.CODECS.encode("keyboard0", saved);
            assertThat(DeviceStateFormat.CODECS.decode(enc, VirtioInput.State.class)).isEqualTo(saved);

            VirtioInput fresh = VirtioInput.keyboard();
            try (VirtioDriver drv2 = VirtioDriver.restored(fresh, g.drv.copyOfMemory(), pci)) {
                assertThat(drv2.read(VirtioPciLayout.DEVICE_OFFSET, 1)).isEqualTo(0x11);
                assertThat(drv2.read(VirtioPciLayout.DEVICE_OFFSET + 1, 1)).isEqualTo(0x14);
                assertThat(drv2.read(VirtioPciLayout.DEVICE_OFFSET + 2, 1)).as("EV_REP answer size").isEqualTo(1);
                // The new host holds nothing: the guest is told both keys went up, in the buffers left.
                DriverQueue evq = new DriverQueue(drv2.gm.memory, 0x1000, InputGuest.QSIZE);
                drv2.awaitUsed(evq, 7);
                List<Long> events = new ArrayList<>();
                for (int i = 4; i < 7; i++) {
                    int[] u = evq.usedElem(i);
                    assertThat(u).containsExactly(i, 8);
                    long a = InputGuest.EVENTS + 8L * i;
                    events.add(pack(drv2.gm.memory.readShort(a), drv2.gm.memory.readShort(a + 2), drv2.gm.memory.readInt(a + 4)));
                }
                assertThat(events).containsExactly(key(30, 0), key(56, 0), SYN);
                assertThat(fresh.save().guestKeysDown()).isEmpty();
            }
        }
    }

    @Test
    void hostileStatesAreRefused() {
        assertThatThrownBy(() -> new VirtioInput.State(256, 0, List.of())).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new VirtioInput.State(0, 0, List.of(0x300))).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new VirtioInput.State(0, 0, List.of(5, 5))).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> VirtioInput.keyboard().restoreState(new io.jkvm.device.virtio.VirtioDevice.NoState(), false))
                .isInstanceOf(io.jkvm.snapshot.DeviceMismatchException.class);
    }

    @Test
    void hostileStateBytesAreRefusedByTheCodec() {
        byte[] good = DeviceStateFormat.CODECS.encode("keyboard0", new VirtioInput.State(1, 0, List.of(30, 56))).bytes();
        int n = good.length;
        byte[] dup = good.clone();
        dup[n - 2] = good[n - 4];
        dup[n - 1] = good[n - 3];
        byte[] big = good.clone();
        big[n - 2] = (byte) 0xff;
        big[n - 1] = (byte) 0xff;
        byte[] cut = java.util.Arrays.copyOf(good, n - 1);
        for (byte[] b : List.of(dup, big, cut)) {
            assertThatThrownBy(() -> DeviceStateFormat.CODECS.decode(DeviceState.of("keyboard0", b), VirtioInput.State.class))
                    .isInstanceOf(io.jkvm.snapshot.SnapshotException.class).hasMessageContaining("keyboard0");
        }
    }

    @Test
    void oversizedGroupsAreACallerError() {
        long[] group = new long[PendingEvents.MAX_GROUP];
        for (int i = 0; i < group.length; i++) {
            group[i] = key(2 + i, 1);
        }
        assertThatThrownBy(() -> VirtioInput.keyboard().offer(group)).isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> VirtioInput.keyboard().offer(key(30, 2))).as("no repeats: the guest makes them")
                .isInstanceOf(IllegalArgumentException.class);
    }
}
