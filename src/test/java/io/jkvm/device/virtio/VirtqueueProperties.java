package io.jkvm.device.virtio;

import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Hostile descriptor chains and rings against {@link Virtqueue}: whatever the driver writes,
 * only {@link VirtqueueException} escapes, every buffer handed to a device is inside guest RAM,
 * nothing outside guest RAM is touched (guard bytes), and the queue works again after reset.
 */
class VirtqueueProperties {
    private static final int SIZE = 16;
    private static final long RINGS = 0x1000;

    record Desc(long addr, long len, int flags, int next) {}

    @Provide
    Arbitrary<Long> addresses() {
        return Arbitraries.oneOf(
                Arbitraries.longs().between(0, GuardedMemory.REGION + 64),
                Arbitraries.longs().between(GuardedMemory.HIGH - 64, GuardedMemory.HIGH + GuardedMemory.REGION + 64),
                Arbitraries.longs().between(-0x10000L, -1L), // just below 2^64
                Arbitraries.longs());
    }

    @Provide
    Arbitrary<Long> lengths() {
        return Arbitraries.oneOf(
                Arbitraries.longs().between(0, 256),
                Arbitraries.longs().between(0, 2 * GuardedMemory.REGION),
                Arbitraries.longs().between(0xffff_0000L, 0xffff_ffffL));
    }

    @Provide
    Arbitrary<Desc> descs() {
        return Combinators.combine(addresses(), lengths(), Arbitraries.integers().between(0, 7),
                Arbitraries.integers().between(0, SIZE + 4)).as(Desc::new);
    }

    @Property(tries = 300)
    void garbageRingsNeverEscape(@ForAll @Size(SIZE) List<@net.jqwik.api.From("descs") Desc> table,
            @ForAll @Size(SIZE) List<@IntRange(min = 0, max = SIZE + 4) Integer> ring,
            @ForAll @IntRange(min = 0, max = 65535) int availIdx,
            @ForAll boolean eventIdx, @ForAll boolean indirect) {
        try (GuardedMemory gm = new GuardedMemory()) {
            DriverQueue dq = new DriverQueue(gm.memory, RINGS, SIZE);
            Virtqueue q = new Virtqueue(gm.memory, 0, SIZE);
            dq.configure(q, eventIdx, indirect);
            for (int i = 0; i < SIZE; i++) {
                Desc d = table.get(i);
                dq.setDesc(i, d.addr, d.len, d.flags, d.next);
                gm.memory.writeShort(dq.avail + 4 + 2L * i, (short) (int) ring.get(i));
            }
            dq.setAvailIdx(availIdx);
            drainLikeADevice(gm, q);
            gm.assertGuardsIntact();
            assertWorksAfterReset(gm, q, dq);
        }
    }

    /** Pops until empty or broken, filling writable buffers like virtio-rng would. */
    private static void drainLikeADevice(GuardedMemory gm, Virtqueue q) {
        for (int n = 0; n < 4 * SIZE; n++) {
            DescriptorChain c;
            try {
                c = q.pop();
            } catch (VirtqueueException e) {
                assertThat(q.isBroken()).isTrue();
                return;
            }
            if (c == null) {
                return;
            }
            for (GuestBuffer b : c.readable()) {
                assertThat(gm.memory.isValid(b.gpa(), b.length())).isTrue();
            }
            for (GuestBuffer b : c.writable()) {
                assertThat(gm.memory.isValid(b.gpa(), b.length())).isTrue();
            }
            byte[] fill = new byte[c.writableLength()];
            java.util.Arrays.fill(fill, (byte) 0x5a);
            assertThat(c.write(0, fill, 0, fill.length)).isEqualTo(fill.length);
            q.addUsed(c.head(), fill.length);
        }
    }

    private static void assertWorksAfterReset(GuardedMemory gm, Virtqueue q, DriverQueue old) {
        gm.memory.fill(RINGS, DriverQueue.footprint(SIZE), (byte) 0);
        DriverQueue dq = new DriverQueue(gm.memory, RINGS, SIZE);
        dq.configure(q, false, false);
        dq.setDesc(0, 0x8000, 64, Virtqueue.F_WRITE, 0);
        dq.publish(0);
        try {
            DescriptorChain c = q.pop();
            assertThat(c).isNotNull();
            assertThat(c.writableLength()).isEqualTo(64);
        } catch (VirtqueueException e) {
            throw new AssertionError("queue still broken after reset", e);
        }
    }

    @Property(tries = 200)
    void loopsAreAlwaysDetected(@ForAll @IntRange(min = 1, max = SIZE) int cycleLength,
            @ForAll @IntRange(min = 0, max = SIZE - 1) int start, @ForAll boolean writable) {
        try (GuardedMemory gm = new GuardedMemory()) {
            DriverQueue dq = new DriverQueue(gm.memory, RINGS, SIZE);
            Virtqueue q = new Virtqueue(gm.memory, 0, SIZE);
            dq.configure(q, false, false);
            for (int i = 0; i < cycleLength; i++) {
                int idx = (start + i) % SIZE;
                int next = (start + (i + 1) % cycleLength) % SIZE;
                dq.setDesc(idx, 0x8000, 8, Virtqueue.F_NEXT | (writable ? Virtqueue.F_WRITE : 0), next);
            }
            dq.publish(start);
            assertThatThrownBy(q::pop).isInstanceOf(VirtqueueException.class);
            gm.assertGuardsIntact();
        }
    }

    @Property(tries = 200)
    void loopsInsideIndirectTablesAreDetected(@ForAll @IntRange(min = 1, max = SIZE) int entries,
            @ForAll @IntRange(min = 0, max = SIZE - 1) int back) {
        try (GuardedMemory gm = new GuardedMemory()) {
            DriverQueue dq = new DriverQueue(gm.memory, RINGS, SIZE);
            Virtqueue q = new Virtqueue(gm.memory, 0, SIZE);
            dq.configure(q, false, true);
            long table = 0x6000;
            for (int i = 0; i < entries; i++) {
                int next = i + 1 < entries ? i + 1 : back % entries;
                dq.setDesc(table, i, 0x8000, 8, Virtqueue.F_NEXT, next);
            }
            dq.setDesc(0, table, 16L * entries, Virtqueue.F_INDIRECT, 0);
            dq.publish(0);
            assertThatThrownBy(q::pop).isInstanceOf(VirtqueueException.class);
        }
    }

    @Property(tries = 300)
    void buffersOutsideRamAreRejectedWithoutBeingTouched(@ForAll("addresses") long addr, @ForAll("lengths") long len,
            @ForAll boolean write) throws Exception {
        try (GuardedMemory gm = new GuardedMemory()) {
            DriverQueue dq = new DriverQueue(gm.memory, RINGS, SIZE);
            Virtqueue q = new Virtqueue(gm.memory, 0, SIZE);
            dq.configure(q, false, false);
            dq.setDesc(0, addr, len, write ? Virtqueue.F_WRITE : 0, 0);
            dq.publish(0);
            boolean valid = gm.memory.isValid(addr, len) && len <= Virtqueue.MAX_CHAIN_BYTES;
            DescriptorChain c = q.pop();
            if (valid) {
                assertThat(c).isNotNull();
                assertThat(c.readableLength() + c.writableLength()).isEqualTo((int) len);
            } else {
                assertThat(c).isNull();
                assertThat(q.rejectedChains()).isEqualTo(1);
                assertThat(dq.usedElem(0)).containsExactly(0, 0);
            }
            gm.assertGuardsIntact();
        }
    }

    @Property(tries = 100)
    void readableAfterWritableIsRejected(@ForAll @IntRange(min = 1, max = 5) int writables,
            @ForAll @IntRange(min = 1, max = 5) int readablesAfter) throws Exception {
        try (GuardedMemory gm = new GuardedMemory()) {
            DriverQueue dq = new DriverQueue(gm.memory, RINGS, SIZE);
            Virtqueue q = new Virtqueue(gm.memory, 0, SIZE);
            dq.configure(q, false, false);
            int n = writables + readablesAfter;
            for (int i = 0; i < n; i++) {
                int flags = (i < writables ? Virtqueue.F_WRITE : 0) | (i + 1 < n ? Virtqueue.F_NEXT : 0);
                dq.setDesc(i, 0x8000 + 64L * i, 64, flags, i + 1);
            }
            dq.publish(0);
            assertThat(q.pop()).isNull();
            assertThat(q.rejectedChains()).isEqualTo(1);
        }
    }
}
