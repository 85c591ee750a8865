package io.jkvm.device.virtio;

import io.jkvm.device.virtio.pci.VirtioPciDevice;
import io.jkvm.device.virtio.pci.VirtioPciState;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.vmm.DeviceStateFormat;
import org.junit.jupiter.api.Test;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * virtio-balloon (virtio 1.2 §5.5) through the PCI transport with a test driver: the config
 * space, inflate ranges (recorded instead of released: test RAM is not a guest mapping),
 * hostile page numbers and buffers, statistics and the timer that asks for them, and the state.
 */
class VirtioBalloonTest {
    private static final int CONFIG = 0x2000;
    /** GuardedMemory: PFNs 0-15 (low region) and 32-47 (high region) are RAM. */
    private static final long PAYLOAD = 0x8000;

    /** Releases recorded as [gpa offset in its host segment is unknown, so: size] plus the count. */
    private final List<Long> released = new ArrayList<>();

    private VirtioBalloon balloon(int mib, int statsS) {
        return new VirtioBalloon(mib, true, statsS, range -> {
            synchronized (released) {
                released.add(range.byteSize());
            }
            return true;
        });
    }

    private static byte[] pfns(int... p) {
        ByteBuffer b = ByteBuffer.allocate(p.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int x : p) {
            b.putInt(x);
        }
        return b.array();
    }

    private static DriverQueue[] start(VirtioDriver drv, int queues) {
        assertThat(drv.negotiate(drv.deviceFeatures())).isTrue();
        DriverQueue[] q = new DriverQueue[queues];
        for (int i = 0; i < queues; i++) {
            q[i] = drv.setupQueue(i, 0x1000 + 0x2000L * i, 8, VirtioPciDevice.NO_VECTOR);
        }
        drv.driverOk();
        return q;
    }

    @Test
    void configSpaceCarriesTheTargetAndTheDriversActualAndATargetChangeInterrupts() {
        VirtioBalloon b = balloon(2, 0);
        try (VirtioDriver drv = new VirtioDriver(b)) {
            assertThat(drv.deviceFeatures() & 0xff).as("DEFLATE_ON_OOM, no STATS_VQ").isEqualTo(1L << VirtioBalloon.F_DEFLATE_ON_OOM);
            assertThat(drv.read(CONFIG, 4)).as("num_pages").isEqualTo(512);
            start(drv, 2);
            assertThat(drv.intx.level()).isFalse();
            b.setTargetMib(3);
            assertThat(drv.read(CONFIG, 4)).isEqualTo(768);
            VirtioDriver.await("configuration change interrupt", drv.intx::level);
            drv.write(CONFIG, 4, 999); // num_pages is the host's: ignored
            drv.write(CONFIG + 4, 4, 700);
            drv.write(CONFIG + 4, 1, 0x12); // a byte of actual
            assertThat(drv.read(CONFIG, 4)).isEqualTo(768);
            assertThat(b.actualPages()).isEqualTo((700 & ~0xff) | 0x12);
        }
    }

    @Test
    void inflateReleasesAdjacentPagesAsOneRangeAndSkipsPagesOutsideRam() {
        VirtioBalloon b = balloon(0, 0);
        try (VirtioDriver drv = new VirtioDriver(b)) {
            DriverQueue[] q = start(drv, 2);
            byte[] payload = pfns(12, 10, 11, 33, 16, 0xffff_ffff, 34, 11);
            drv.gm.memory.write(PAYLOAD, payload);
            q[0].setDesc(0, PAYLOAD, payload.length, 0, 0);
            q[0].publish(0);
            drv.kick(VirtioBalloon.INFLATE);
            drv.awaitUsed(q[0], 1);
            synchronized (released) {
                assertThat(released).as("10-12 as one range, 33-34 as another").containsExactly(3 * 4096L, 2 * 4096L);
            }
            assertThat(b.counters()).as("released, refused, outside RAM, failures").containsExactly(5, 0, 2, 0);

            drv.gm.memory.write(PAYLOAD, pfns(10, 11));
            q[1].setDesc(0, PAYLOAD, 8, 0, 0);
            q[1].publish(0);
            drv.kick(VirtioBalloon.DEFLATE);
            drv.awaitUsed(q[1], 1);
            assertThat(b.counters()[0]).as("deflate releases nothing").isEqualTo(5);
            drv.gm.assertGuardsIntact();
        }
    }

    @Test
    void hostileBuffersAreRefusedWholeWithoutWorkPerGuestChosenCount() {
        VirtioBalloon b = balloon(0, 0);
        try (VirtioDriver drv = new VirtioDriver(b)) {
            DriverQueue[] q = start(drv, 2);
            // An odd length, a length over the cap (a 1 MiB "array"), then 1024 PFNs all outside RAM.
            q[0].setDesc(0, PAYLOAD, 6, 0, 0);
            q[0].setDesc(1, 0, 60 * 1024, 0, 0);
            int[] far = new int[BalloonPages.MAX_PFNS];
            for (int i = 0; i < far.length; i++) {
                far[i] = 0x7fff_0000 + 2 * i; // no two adjacent: every one its own range
            }
            drv.gm.memory.write(0x20000, pfns(far));
            q[0].setDesc(2, 0x20000, far.length * 4, 0, 0);
            q[0].publish(0);
            q[0].publish(1);
            q[0].publish(2);
            drv.kick(VirtioBalloon.INFLATE);
            drv.awaitUsed(q[0], 3);
            assertThat(released).isEmpty();
            assertThat(b.counters()).containsExactly(0, 2, BalloonPages.MAX_PFNS, 0);
            assertThat(drv.dev.status() & DeviceStatus.DEVICE_NEEDS_RESET).as("the device keeps working").isZero();
            drv.gm.assertGuardsIntact();
        }
    }

    private static byte[] stats(long memFree, long memTotal) {
        ByteBuffer b = ByteBuffer.allocate(30).order(ByteOrder.LITTLE_ENDIAN);
        b.putShort((short) 4).putLong(memFree).putShort((short) 5).putLong(memTotal).putShort((short) 77).putLong(1);
        return b.array();
    }

    @Test
    void statisticsAreParsedAndTheBufferIsHandedBackEveryInterval() {
        VirtioBalloon b = balloon(0, 1);
        try (VirtioDriver drv = new VirtioDriver(b)) {
            assertThat(drv.deviceFeatures() & (1L << VirtioBalloon.F_STATS_VQ)).isNotZero();
            DriverQueue[] q = start(drv, 3);
            drv.gm.memory.write(PAYLOAD, stats(1000, 4000));
            q[2].setDesc(0, PAYLOAD, 30, 0, 0);
            q[2].publish(0);
            drv.kick(VirtioBalloon.STATS);
            drv.awaitUsed(q[2], 1); // the first request is due at once
            assertThat(b.statistics().value(4)).isEqualTo(1000L);
            assertThat(b.statistics().value(5)).isEqualTo(4000L);
            assertThat(b.statistics().value(0)).isNull();

            long t0 = System.nanoTime();
            drv.gm.memory.write(PAYLOAD, stats(2000, 4000));
            q[2].publish(0);
            drv.kick(VirtioBalloon.STATS);
            VirtioDriver.await("parsed", () -> Long.valueOf(2000).equals(b.statistics().value(4)));
            assertThat(q[2].usedIdx()).as("kept until the interval passes").isEqualTo(1);
            drv.awaitUsed(q[2], 2);
            assertThat(System.nanoTime() - t0).as("handed back after about a second").isGreaterThan(800_000_000L);
        }
    }

    @Test
    void theStateRoundTripsWithTheKeptStatisticsBuffer() throws Exception {
        VirtioBalloon b = balloon(1, 5);
        try (VirtioDriver drv = new VirtioDriver(b)) {
            DriverQueue[] q = start(drv, 3);
            drv.gm.memory.write(PAYLOAD, stats(1, 2));
            q[2].setDesc(0, PAYLOAD, 30, 0, 0);
            q[2].publish(0);
            drv.kick(VirtioBalloon.STATS);
            drv.awaitUsed(q[2], 1);
            drv.gm.memory.write(PAYLOAD + 64, stats(3, 4));
            q[2].setDesc(1, PAYLOAD + 64, 30, 0, 0);
            q[2].publish(1);
            drv.kick(VirtioBalloon.STATS);
            VirtioDriver.await("second report", () -> Long.valueOf(3).equals(b.statistics().value(4)));
            b.setTargetMib(2);
            drv.write(CONFIG + 4, 4, 256);
            drv.dev.suspendIo();
            VirtioPciState s = drv.dev.save();
            VirtioBalloon.State st = (VirtioBalloon.State) s.device();
            assertThat(st).isEqualTo(new VirtioBalloon.State(512, 256, 5, BalloonStatistics.NONE.with(4, 3).with(5, 4), 1));
            DeviceState enc = DeviceStateFormat.CODECS.encode("balloon0", st);
            assertThat(DeviceStateFormat.CODECS.decode(enc, VirtioBalloon.State.class)).isEqualTo(st);

            VirtioBalloon restored = balloon(1, 5);
            try (VirtioDriver drv2 = VirtioDriver.restored(restored, drv.copyOfMemory(), s)) {
                assertThat(restored.targetPages()).isEqualTo(512);
                assertThat(restored.actualPages()).isEqualTo(256);
                assertThat(restored.statistics().value(5)).isEqualTo(4L);
                assertThat(restored.save().heldStatsHead()).as("the kept buffer is kept again").isEqualTo(1);
                restored.setStatsIntervalS(1); // asks at once: the kept buffer goes back
                DriverQueue q2 = new DriverQueue(drv2.gm.memory, 0x1000 + 0x4000, 8);
                drv2.awaitUsed(q2, 2);
                assertThat(q2.usedElem(1)[0]).isEqualTo(1);
            }
        }
    }

    @Test
    void statisticsCannotBeTurnedOnOrOffOnceMade() {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> balloon(0, 0).setStatsIntervalS(1))
                .isInstanceOf(IllegalStateException.class);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> balloon(0, 1).setStatsIntervalS(0))
                .isInstanceOf(IllegalStateException.class);
    }

    @Test
    void releasingGuestRamGivesItsPagesBackAndTheyReadAsZeros() {
        try (io.jkvm.memory.GuestRam ram = io.jkvm.memory.GuestRam.allocate(4L << 20, io.jkvm.memory.RamBacking.PAGES)) {
            MemorySegment all = ram.memory().slice(0, 4L << 20);
            all.fill((byte) 0x5a);
            long address = ram.memory().regions().getFirst().host().address();
            long before = io.jkvm.testing.OwnMapping.kib(address, "Rss");
            assertThat(io.jkvm.memory.HostPages.release(ram.memory().slice(1L << 20, 2L << 20))).isTrue();
            long after = io.jkvm.testing.OwnMapping.kib(address, "Rss");
            assertThat(ram.memory().read(1L << 20, 4096)).containsOnly((byte) 0);
            assertThat(ram.memory().read((3L << 20) - 4096, 4096)).containsOnly((byte) 0);
            assertThat(ram.memory().read((1L << 20) - 1, 1)).containsOnly((byte) 0x5a);
            assertThat(ram.memory().read(3L << 20, 1)).containsOnly((byte) 0x5a);
            assertThat(before - after).as("Rss drop of the guest RAM mapping (KiB)").isEqualTo(2048);
        }
    }
}
