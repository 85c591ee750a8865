package io.jkvm.device.virtio.mmio;

import io.jkvm.device.virtio.DeviceStatus;
import io.jkvm.device.virtio.DriverQueue;
import io.jkvm.device.virtio.GuardedMemory;
import io.jkvm.device.virtio.VirtioConsole;
import io.jkvm.device.virtio.VirtioFeatures;
import io.jkvm.device.virtio.VirtioRng;
import io.jkvm.memory.GuestMemory;
import io.jkvm.snapshot.DeviceMismatchException;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.vmm.DeviceStateFormat;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static io.jkvm.device.virtio.mmio.VirtioMmioLayout.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** A virtio-mmio device saved mid-use through the snapshot codec and restored over a copy of guest RAM. */
class VirtioMmioSnapshotTest {
    private static final long V1 = VirtioFeatures.bit(VirtioFeatures.VERSION_1);
    /** VIRTQ_DESC_F_NEXT / VIRTQ_DESC_F_WRITE (§2.7.5). */
    private static final int F_NEXT = 1;
    private static final int F_WRITE = 2;

    @Test
    void restoredDeviceKeepsItsRingPositionAndPendingInterrupt() throws Exception {
        VirtioMmioState saved;
        GuardedMemory copy = new GuardedMemory();
        try (MmioDriver drv = new MmioDriver(new VirtioRng(new Random(1)))) {
            assertThat(drv.negotiate(V1)).isTrue();
            DriverQueue dq = drv.setupQueue(0, 0x1000, 16);
            drv.driverOk();
            dq.setDesc(0, 0x8000, 32, F_WRITE, 0);
            dq.publish(0);
            drv.kick(0);
            drv.syncIo();
            assertThat(dq.usedIdx()).isEqualTo(1);
            drv.dev.suspendIo();
            VirtioMmioState s = drv.dev.save();
            DeviceState encoded = DeviceStateFormat.CODECS.encode("rng0", s);
            saved = DeviceStateFormat.CODECS.decode(encoded, VirtioMmioState.class);
            for (GuestMemory.Region r : drv.gm.memory.regions()) {
                copy.memory.write(r.guestAddress(), drv.gm.memory.read(r.guestAddress(), (int) r.size()));
            }
        }
        assertThat(saved.interruptStatus()).isEqualTo(INT_VRING);

        try (MmioDriver back = MmioDriver.restored(new VirtioRng(new Random(2)), copy, saved)) {
            assertThat(back.status() & DeviceStatus.DRIVER_OK).isNotZero();
            assertThat(back.read(INTERRUPT_STATUS)).as("pending interrupt survives").isEqualTo(INT_VRING);
            assertThat(back.irq.level()).isTrue();
            back.takeInterrupt();
            DriverQueue dq = new DriverQueue(copy.memory, 0x1000, 16);
            dq.setAvailIdx(1); // the driver side carries on where it was
            dq.setDesc(1, 0x9000, 32, F_WRITE, 0);
            dq.publish(1);
            back.kick(0);
            back.syncIo();
            assertThat(dq.usedIdx()).as("continues from the saved used idx").isEqualTo(2);
            assertThat(dq.usedElem(1)).containsExactly(1, 32);
        }
    }

    @Test
    void stateOfAnotherDeviceTypeIsRefused() throws Exception {
        VirtioMmioState saved;
        try (MmioDriver drv = new MmioDriver(new VirtioRng(new Random(1)))) {
            drv.dev.suspendIo();
            saved = drv.dev.save();
        }
        GuardedMemory gm = new GuardedMemory();
        try {
            assertThatThrownBy(() -> MmioDriver.restored(new VirtioConsole(java.io.InputStream.nullInputStream(), java.io.OutputStream.nullOutputStream(), 80, 25), gm, saved))
                    .isInstanceOf(DeviceMismatchException.class).hasMessageContaining("device type 4");
        } finally {
            gm.close();
        }
    }
}
