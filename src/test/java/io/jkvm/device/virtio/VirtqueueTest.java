package io.jkvm.device.virtio;

import io.jkvm.memory.GuestMemory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class VirtqueueTest {
    private static final int SIZE = 16;
    private static final int NEXT = Virtqueue.F_NEXT;
    private static final int WRITE = Virtqueue.F_WRITE;
    private static final int INDIRECT = Virtqueue.F_INDIRECT;

    private final GuardedMemory gm = new GuardedMemory();
    private final GuestMemory mem = gm.memory;
    private final DriverQueue dq = new DriverQueue(mem, 0x1000, SIZE);
    private final Virtqueue q = new Virtqueue(mem, 0, 256);

    @AfterEach
    void guards() {
        gm.assertGuardsIntact();
        gm.close();
    }

    @Test
    void popsReadableThenWritableBuffersAndPublishesUsed() throws Exception {
        dq.configure(q, false, false);
        mem.write(0x8000, new byte[] {1, 2, 3, 4});
        dq.setDesc(0, 0x8000, 4, NEXT, 1);
        dq.setDesc(1, 0x9000, 8, WRITE | NEXT, 2);
        dq.setDesc(2, HIGH(0x100), 8, WRITE, 0);
        dq.publish(0);

        DescriptorChain c = q.pop();
        assertThat(c.head()).isZero();
        assertThat(c.readable()).containsExactly(new GuestBuffer(0x8000, 4));
        assertThat(c.writable()).containsExactly(new GuestBuffer(0x9000, 8), new GuestBuffer(HIGH(0x100), 8));
        byte[] got = new byte[4];
        assertThat(c.read(0, got, 0, 4)).isEqualTo(4);
        assertThat(got).containsExactly(1, 2, 3, 4);
        // A write spanning both writable buffers lands in both.
        byte[] data = {9, 9, 9, 9, 9, 9, 9, 9, 7, 7};
        assertThat(c.write(0, data, 0, data.length)).isEqualTo(10);
        assertThat(mem.readShort(HIGH(0x100))).isEqualTo((short) 0x0707);
        assertThat(q.pop()).isNull();

        q.addUsed(c.head(), 10);
        assertThat(dq.usedIdx()).isEqualTo(1);
        assertThat(dq.usedElem(0)).containsExactly(0, 10);
        assertThat(q.needsInterrupt()).isTrue();
        assertThat(q.needsInterrupt()).as("nothing new since").isFalse();
    }

    @Test
    void unpopLeavesTheChainAvailableAndOnlyFollowsAPop() throws Exception {
        dq.configure(q, false, false);
        dq.setDesc(0, 0x8000, 4, 0, 0);
        dq.setDesc(1, 0x9000, 4, 0, 0);
        dq.publish(0);
        dq.publish(1);
        assertThatThrownBy(q::unpop).as("nothing popped").isInstanceOf(IllegalStateException.class);

        assertThat(q.pop().head()).isZero();
        q.unpop();
        assertThat(q.lastAvailIndex()).isZero();
        assertThatThrownBy(q::unpop).as("only the one chain").isInstanceOf(IllegalStateException.class);
        DescriptorChain again = q.pop();
        assertThat(again.head()).as("the same chain, parsed again").isZero();
        q.addUsed(again.head(), 0);
        assertThatThrownBy(q::unpop).as("a used chain cannot go back").isInstanceOf(IllegalStateException.class);
        assertThat(q.pop().head()).isEqualTo(1);
        assertThat(q.pop()).isNull();
        assertThatThrownBy(q::unpop).as("after a pop that found nothing").isInstanceOf(IllegalStateException.class);
    }

    private static long HIGH(long off) {
        return GuardedMemory.HIGH + off;
    }

    @Test
    void indirectTableIsFollowed() throws Exception {
        dq.configure(q, false, true);
        long table = 0x6000;
        dq.setDesc(table, 0, 0x8000, 16, NEXT, 1);
        dq.setDesc(table, 1, 0x9000, 32, WRITE, 0);
        dq.setDesc(3, table, 32, INDIRECT, 0);
        dq.publish(3);
        DescriptorChain c = q.pop();
        assertThat(c.head()).isEqualTo(3);
        assertThat(c.readableLength()).isEqualTo(16);
        assertThat(c.writableLength()).isEqualTo(32);
    }

    @Test
    void loopBreaksTheQueueUntilReset() throws Exception {
        dq.configure(q, false, false);
        dq.setDesc(0, 0x8000, 4, NEXT, 1);
        dq.setDesc(1, 0x8000, 4, NEXT, 0);
        dq.publish(0);
        assertThatThrownBy(q::pop).isInstanceOf(VirtqueueException.class).hasMessageContaining("loops");
        assertThat(q.isBroken()).isTrue();
        assertThat(q.pop()).isNull();

        dq.configure(q, false, false);
        dq.setDesc(0, 0x8000, 4, 0, 0);
        dq.setAvailIdx(0);
        dq.publish(0);
        assertThat(q.pop()).isNotNull();
    }

    @Test
    void queueFatalErrors() {
        record Case(String name, Runnable setup, String message) {}
        List<Case> cases = List.of(
                new Case("avail idx jump", () -> dq.setAvailIdx(SIZE + 1), "ahead"),
                new Case("head out of range", () -> dq.publish(SIZE), "head index"),
                new Case("next out of range", () -> {
                    dq.setDesc(0, 0x8000, 4, NEXT, SIZE + 3);
                    dq.publish(0);
                }, "descriptor index"),
                new Case("nested indirect", () -> {
                    dq.setDesc(0x6000, 0, 0x6100, 16, INDIRECT, 0);
                    dq.setDesc(0, 0x6000, 16, INDIRECT, 0);
                    dq.publish(0);
                }, "inside an indirect"),
                new Case("indirect with next", () -> {
                    dq.setDesc(0x6000, 0, 0x8000, 16, 0, 0);
                    dq.setDesc(0, 0x6000, 16, INDIRECT | NEXT, 1);
                    dq.publish(0);
                }, "NEXT"),
                new Case("indirect length", () -> {
                    dq.setDesc(0, 0x6000, 17, INDIRECT, 0);
                    dq.publish(0);
                }, "length"),
                new Case("indirect table outside RAM", () -> {
                    dq.setDesc(0, 0x10_0000, 32, INDIRECT, 0);
                    dq.publish(0);
                }, "not guest RAM"));
        for (Case k : cases) {
            mem.fill(0x1000, 0x1000, (byte) 0);
            dq.configure(q, false, true);
            dq.setAvailIdx(0);
            k.setup.run();
            assertThatThrownBy(q::pop).as(k.name).isInstanceOf(VirtqueueException.class).hasMessageContaining(k.message);
            assertThat(q.isBroken()).as(k.name).isTrue();
        }
    }

    @Test
    void indirectWithoutFeatureIsFatal() {
        dq.configure(q, false, false);
        dq.setDesc(0, 0x6000, 16, INDIRECT, 0);
        dq.publish(0);
        assertThatThrownBy(q::pop).isInstanceOf(VirtqueueException.class).hasMessageContaining("INDIRECT");
    }

    @Test
    void badBuffersAreReturnedWithLengthZeroAndSkipped() throws Exception {
        dq.configure(q, false, false);
        long[][] bad = {
                {0x10_0000, 16, 0}, // in the hole / beyond RAM
                {GuardedMemory.REGION - 8, 16, 0}, // straddles the end of the low region
                {0xffff_ffff_ffff_f000L, 0x2000, 0}, // wraps around 2^64
                {0x8000, 0xffff_ffffL, 0}, // absurd length
        };
        for (int i = 0; i < bad.length; i++) {
            dq.setDesc(i, bad[i][0], bad[i][1], WRITE, 0);
            dq.publish(i);
        }
        // Writable before readable.
        dq.setDesc(8, 0x8000, 4, WRITE | NEXT, 9);
        dq.setDesc(9, 0x8000, 4, 0, 0);
        dq.publish(8);
        dq.setDesc(10, 0x8000, 4, WRITE, 0);
        dq.publish(10);

        DescriptorChain c = q.pop();
        assertThat(c.head()).isEqualTo(10);
        assertThat(q.rejectedChains()).isEqualTo(5);
        for (int i = 0; i < 5; i++) {
            assertThat(dq.usedElem(i)[1]).as("rejected chain %d returned with length 0", i).isZero();
        }
        assertThat(dq.usedElem(4)[0]).isEqualTo(8);
    }

    @Test
    void chainsLongerThanTheBoundAreRejected() throws Exception {
        try (Arena a = Arena.ofConfined()) {
            GuestMemory big = new GuestMemory(List.of(new GuestMemory.Region(0, a.allocate(8 << 20, 4096))));
            int size = 32768;
            DriverQueue d = new DriverQueue(big, 0, size);
            Virtqueue vq = new Virtqueue(big, 0, size);
            d.configure(vq, false, true);
            long table = 4 << 20;
            // 32768 indirect entries of 16 KiB each: 512 MiB > MAX_CHAIN_BYTES.
            for (int i = 0; i < size; i++) {
                d.setDesc(table, i, 0x70_0000, 16 * 1024, WRITE | (i + 1 < size ? NEXT : 0), i + 1);
            }
            d.setDesc(0, table, 16L * size, INDIRECT, 0);
            d.publish(0);
            assertThat(vq.pop()).isNull();
            assertThat(vq.rejectedChains()).isEqualTo(1);
        }
    }

    @Test
    void eventIdxSuppressesInterruptsUntilUsedEventIsReached() throws Exception {
        dq.configure(q, true, false);
        for (int i = 0; i < 4; i++) {
            dq.setDesc(i, 0x8000, 4, WRITE, 0);
        }
        dq.setUsedEvent(2); // interrupt when used idx passes 2, i.e. after the 3rd buffer
        dq.publish(0);
        q.addUsed(q.pop().head(), 0);
        assertThat(q.needsInterrupt()).as("first notification is always sent").isTrue();
        dq.publish(1);
        q.addUsed(q.pop().head(), 0);
        assertThat(q.needsInterrupt()).isFalse();
        dq.publish(2);
        q.addUsed(q.pop().head(), 0);
        assertThat(q.needsInterrupt()).isTrue();
        assertThat(q.rearm()).isFalse();
        assertThat(dq.availEvent()).isEqualTo(3);
        dq.publish(3);
        assertThat(q.rearm()).as("buffer published after draining is noticed").isTrue();
    }

    @Test
    void noInterruptFlagIsHonouredWithoutEventIdx() throws Exception {
        dq.configure(q, false, false);
        dq.setDesc(0, 0x8000, 4, WRITE, 0);
        dq.setAvailFlags(1);
        dq.publish(0);
        q.addUsed(q.pop().head(), 0);
        assertThat(q.needsInterrupt()).isFalse();
    }

    @Test
    void enableRejectsMisalignedOrOutOfRamRings() {
        q.setSize(SIZE);
        q.setAddresses(0x1008, 0x2000, 0x3000);
        assertThat(q.enable()).as("desc misaligned").isFalse();
        q.setAddresses(0x1000, 0x2000, GuardedMemory.REGION - 8);
        assertThat(q.enable()).as("used ring past RAM").isFalse();
        q.setAddresses(0x1000, 0x2001, 0x3000);
        assertThat(q.enable()).as("avail misaligned").isFalse();
        assertThat(q.setSize(3)).as("not a power of two").isFalse();
        assertThat(q.setSize(512)).as("above max").isFalse();
        q.setAddresses(0x1000, 0x2000, 0x3000);
        assertThat(q.enable()).isTrue();
    }
}
