package io.jkvm.device.virtio.mmio;

import io.jkvm.device.Bus;
import io.jkvm.device.virtio.DeviceStatus;
import io.jkvm.device.virtio.DriverQueue;
import io.jkvm.device.virtio.VirtioFeatures;
import io.jkvm.device.virtio.VirtioRng;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static io.jkvm.device.virtio.mmio.VirtioMmioLayout.*;
import static org.assertj.core.api.Assertions.assertThat;

/** virtio-mmio version 2 (virtio 1.2 §4.2) driven like Linux's virtio_mmio driver, around virtio-rng. */
class VirtioMmioDeviceTest {
    private static final long V1 = VirtioFeatures.bit(VirtioFeatures.VERSION_1);
    /** VIRTQ_DESC_F_NEXT / VIRTQ_DESC_F_WRITE (§2.7.5). */
    private static final int F_NEXT = 1;
    private static final int F_WRITE = 2;

    private final MmioDriver drv = new MmioDriver(new VirtioRng(new Random(1)));

    @AfterEach
    void close() {
        drv.close();
    }

    @Test
    void identityRegisters() {
        assertThat(drv.read(MAGIC_VALUE)).isEqualTo(0x7472_6976L);
        assertThat(drv.read(VERSION_REG)).isEqualTo(2);
        assertThat(drv.read(DEVICE_ID)).as("entropy device").isEqualTo(4);
        assertThat(drv.read(VENDOR_ID)).isEqualTo(VirtioMmioDevice.VENDOR_ID);
        assertThat(drv.deviceFeatures()).isEqualTo(VirtioFeatures.TRANSPORT);
        drv.write(QUEUE_SEL, 0);
        assertThat(drv.read(QUEUE_NUM_MAX)).as("rng queue 0").isEqualTo(new VirtioRng().queueMaxSize(0));
        drv.write(QUEUE_SEL, 1);
        assertThat(drv.read(QUEUE_NUM_MAX)).as("no queue 1").isZero();
        drv.write(QUEUE_SEL, 0xffff_ffffL);
        assertThat(drv.read(QUEUE_NUM_MAX)).as("no queue 2^32-1").isZero();
        assertThat(drv.read(SHM_LEN_LOW)).as("no shared memory region").isEqualTo(0xffff_ffffL);
        assertThat(drv.read(INTERRUPT_STATUS)).isZero();
        assertThat(drv.dev.kernelParameter(5)).isEqualTo("virtio_mmio.device=4K@0xd0000000:5");
    }

    @Test
    void linuxDriverLifecycleCompletesARequestAndInterrupts() {
        assertThat(drv.negotiate(V1 | VirtioFeatures.bit(VirtioFeatures.RING_EVENT_IDX))).isTrue();
        drv.write(DRIVER_FEATURES_SEL, 0);
        assertThat(drv.dev.status() & DeviceStatus.FEATURES_OK).isNotZero();
        DriverQueue dq = drv.setupQueue(0, 0x1000, 16);
        assertThat(drv.read(QUEUE_READY)).isEqualTo(1);
        drv.driverOk();

        dq.setDesc(0, 0x8000, 64, F_WRITE, 0);
        dq.publish(0);
        drv.kick(0);
        drv.syncIo();
        assertThat(dq.usedIdx()).isEqualTo(1);
        assertThat(dq.usedElem(0)).containsExactly(0, 64);
        assertThat(drv.gm.memory.read(0x8000, 64)).isNotEqualTo(new byte[64]);
        assertThat(drv.read(INTERRUPT_STATUS)).as("used buffer").isEqualTo(INT_VRING);
        assertThat(drv.irq.level()).as("line high until acknowledged").isTrue();

        assertThat(drv.takeInterrupt()).isEqualTo(INT_VRING);
        assertThat(drv.read(INTERRUPT_STATUS)).isZero();
        assertThat(drv.irq.levels()).as("raised once, dropped by InterruptACK").containsExactly(true, false);

        drv.setStatus(0);
        assertThat(drv.status()).isZero();
        drv.write(QUEUE_SEL, 0);
        assertThat(drv.read(QUEUE_READY)).as("reset clears QueueReady (§4.2.2.1)").isZero();
    }

    @Test
    void resetClearsInterruptStatusAndDropsTheLine() {
        assertThat(drv.negotiate(V1)).isTrue();
        DriverQueue dq = drv.setupQueue(0, 0x1000, 16);
        drv.driverOk();
        dq.setDesc(0, 0x8000, 16, F_WRITE, 0);
        dq.publish(0);
        drv.kick(0);
        drv.syncIo();
        assertThat(drv.irq.level()).isTrue();
        drv.setStatus(0);
        assertThat(drv.read(INTERRUPT_STATUS)).isZero();
        assertThat(drv.irq.level()).isFalse();
    }

    @Test
    void badAccessesAreIgnored() {
        assertThat(drv.mmio.read(MmioDriver.BASE + MAGIC_VALUE, 2)).as("16-bit control read").isEqualTo(0xffff);
        assertThat(drv.mmio.read(MmioDriver.BASE + 0x2, 4)).as("unaligned").isEqualTo(0xffff_ffffL);
        assertThat(drv.read(0x018)).as("reserved offset").isEqualTo(0xffff_ffffL);
        drv.mmio.write(MmioDriver.BASE + STATUS, 1, DeviceStatus.ACKNOWLEDGE);
        assertThat(drv.status()).as("8-bit Status write ignored").isZero();
        drv.mmio.write(MmioDriver.BASE + 0x0fe, 8, -1L);
        drv.write(0x0f0, -1);
        drv.write(MAGIC_VALUE, 0);
        assertThat(drv.read(MAGIC_VALUE)).isEqualTo(MAGIC & 0xffff_ffffL);
        drv.kick(7); // no such queue
        drv.write(INTERRUPT_ACK, -1);
        assertThat(drv.status()).isZero();
        assertThat(drv.irq.levels()).isEmpty();
    }

    @Test
    void writesTheStatusForbidsAreIgnored() {
        drv.setStatus(DeviceStatus.ACKNOWLEDGE);
        drv.writeDriverFeatures(V1);
        assertThat(drv.dev.status()).isEqualTo(DeviceStatus.ACKNOWLEDGE);
        drv.setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER | DeviceStatus.FEATURES_OK);
        assertThat(drv.status() & DeviceStatus.FEATURES_OK).as("features written before DRIVER were dropped")
                .isZero();

        assertThat(drv.negotiate(V1)).isTrue();
        DriverQueue dq = drv.setupQueue(0, 0x1000, 16);
        drv.driverOk();
        drv.write(QUEUE_READY, 0);
        assertThat(drv.read(QUEUE_READY)).as("no disabling a running queue").isEqualTo(1);
        drv.write(QUEUE_DESC_LOW, 0x9000);
        dq.setDesc(0, 0x8000, 16, F_WRITE, 0);
        dq.publish(0);
        drv.kick(0);
        drv.syncIo();
        assertThat(dq.usedIdx()).as("ring address kept after DRIVER_OK").isEqualTo(1);
    }

    /**
     * Two vCPUs: one writes QueueReady = 1 and passes the transport's status check, the other
     * sets DRIVER_OK before the enable runs. The core refuses the late enable, so the device never
     * runs a queue it was not activated with.
     */
    @Test
    void aQueueEnableThatLosesTheRaceWithDriverOkIsIgnored() {
        assertThat(drv.negotiate(V1)).isTrue();
        drv.write(QUEUE_SEL, 0);
        drv.write(QUEUE_NUM, 16);
        drv.driverOk();
        drv.dev.core().enableSelectedQueue(true); // the enable that passed its check before DRIVER_OK
        assertThat(drv.read(QUEUE_READY)).isZero();
    }

    @Test
    void queueSetupBeforeFeaturesOkIsIgnored() {
        drv.setStatus(DeviceStatus.ACKNOWLEDGE | DeviceStatus.DRIVER);
        drv.write(QUEUE_SEL, 0);
        drv.write(QUEUE_NUM, 16);
        drv.write(QUEUE_READY, 1);
        assertThat(drv.read(QUEUE_READY)).isZero();
    }

    @Test
    void queueNumAboveMaxOrNotAPowerOfTwoIsRefused() throws Exception {
        int max = new VirtioRng().queueMaxSize(0);
        assertThat(drv.negotiate(V1)).isTrue();
        drv.write(QUEUE_SEL, 0);
        drv.write(QUEUE_NUM, 8);
        drv.write(QUEUE_NUM, max * 2L);
        drv.write(QUEUE_NUM, 12);
        drv.write(QUEUE_NUM, 0);
        drv.dev.suspendIo();
        assertThat(drv.dev.save().core().queues().get(0).size()).as("the last acceptable QueueNum").isEqualTo(8);
        drv.dev.resumeIo();
    }

    @Test
    void ringsOutsideRamNeedReset() {
        assertThat(drv.negotiate(V1)).isTrue();
        drv.write(QUEUE_SEL, 0);
        drv.write(QUEUE_NUM, 16);
        drv.write(QUEUE_DESC_LOW, 0x10_0000); // in the hole between RAM regions
        drv.write(QUEUE_READY, 1);
        assertThat(drv.status() & DeviceStatus.DEVICE_NEEDS_RESET).isNotZero();
        assertThat(drv.read(QUEUE_READY)).isZero();
    }

    @Test
    void corruptQueueNeedsResetWithAConfigInterruptAndResetRecovers() {
        assertThat(drv.negotiate(V1)).isTrue();
        DriverQueue dq = drv.setupQueue(0, 0x1000, 16);
        drv.driverOk();
        dq.setDesc(0, 0x8000, 8, F_WRITE | F_NEXT, 0); // self loop
        dq.publish(0);
        drv.kick(0);
        drv.syncIo();
        assertThat(drv.status() & DeviceStatus.DEVICE_NEEDS_RESET).isNotZero();
        assertThat(drv.read(INTERRUPT_STATUS) & INT_CONFIG).as("config change interrupt").isNotZero();
        assertThat(dq.usedIdx()).isZero();

        drv.gm.memory.fill(0x1000, 0x1000, (byte) 0);
        assertThat(drv.negotiate(V1)).isTrue();
        assertThat(drv.irq.level()).as("reset dropped the line").isFalse();
        DriverQueue fresh = drv.setupQueue(0, 0x1000, 16);
        drv.driverOk();
        fresh.setDesc(0, 0x8000, 8, F_WRITE, 0);
        fresh.publish(0);
        drv.kick(0);
        drv.syncIo();
        assertThat(fresh.usedIdx()).isEqualTo(1);
        assertThat(drv.status() & DeviceStatus.DEVICE_NEEDS_RESET).isZero();
    }

    @Test
    void closeUnmapsTheWindow() {
        Bus.Registration r = drv.mmio.find(MmioDriver.BASE, 4);
        assertThat(r).isNotNull();
        drv.dev.close();
        assertThat(drv.mmio.find(MmioDriver.BASE, 4)).isNull();
        assertThat(drv.irq.level()).isFalse();
    }
}
