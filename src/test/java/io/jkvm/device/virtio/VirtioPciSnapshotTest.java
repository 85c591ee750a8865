package io.jkvm.device.virtio;

import io.jkvm.device.virtio.pci.VirtioPciState;
import io.jkvm.memory.GuestMemory;
import io.jkvm.snapshot.DeviceMismatchException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.util.Random;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A virtio-pci function's state captured with its I/O suspended and applied to a fresh function
 * over a copy of guest memory: the driver continues on the restored device as if nothing
 * happened (queue position, MSI-X routes, features), and states that do not fit are refused.
 */
class VirtioPciSnapshotTest {
    private static final long V1 = VirtioFeatures.bit(VirtioFeatures.VERSION_1);
    private final VirtioDriver a = new VirtioDriver(new VirtioRng(new Random(1)));
    private VirtioDriver b = new VirtioDriver(new VirtioRng(new Random(2)));

    @AfterEach
    void close() {
        a.close();
        b.close();
    }

    private DriverQueue runOneRequest() {
        a.enableMsix();
        assertThat(a.negotiate(V1 | VirtioFeatures.bit(VirtioFeatures.RING_EVENT_IDX))).isTrue();
        DriverQueue dq = a.setupQueue(0, 0x1000, 16, 0);
        a.driverOk();
        dq.setDesc(0, 0x8000, 64, Virtqueue.F_WRITE, 0);
        dq.publish(0);
        a.kick(0);
        a.awaitUsed(dq, 1);
        return dq;
    }

    @Test
    void theDriverContinuesOnTheRestoredFunction() throws Exception {
        runOneRequest();
        a.dev.suspendIo();
        VirtioPciState s = a.dev.save();
        assertThat(s.queues().getFirst().position().usedIdx()).isEqualTo(1);
        assertThat(s.queues().getFirst().position().lastAvail()).isEqualTo(1);
        assertThat(s.status() & DeviceStatus.DRIVER_OK).isNotZero();

        b.close();
        b = VirtioDriver.restored(new VirtioRng(new Random(2)), a.copyOfMemory(), s);
        assertThat(b.status()).isEqualTo(s.status());
        assertThat(b.dev.driverFeatures()).isEqualTo(s.driverFeatures());
        assertThat(b.dev.msix().enabled()).isTrue();

        // The driver's next request (avail idx 2) is served by the restored device and signalled on vector 0.
        DriverQueue dq = new DriverQueue(b.gm.memory, 0x1000, 16);
        dq.setAvailIdx(1);
        dq.setUsedEvent(1); // EVENT_IDX (§2.7.10): interrupt me when used idx passes 1
        dq.setDesc(1, 0x9000, 32, Virtqueue.F_WRITE, 0);
        dq.publish(1);
        b.kick(0);
        b.awaitUsed(dq, 2);
        assertThat(dq.usedElem(1)).containsExactly(1, 32);
        assertThat(b.msi.awaitFired(1, 5000)).isTrue();
    }

    @Test
    void aStateForAnotherDeviceTypeIsRefused() throws Exception {
        runOneRequest();
        a.dev.suspendIo();
        VirtioPciState s = a.dev.save();
        VirtioConsole console = new VirtioConsole(null, java.io.OutputStream.nullOutputStream(), 0, 0);
        assertThatThrownBy(() -> VirtioDriver.restored(console, a.copyOfMemory(), s))
                .isInstanceOf(DeviceMismatchException.class).hasMessageContaining("device type 4");
    }

    @Test
    void aUsedIndexThatGuestMemoryContradictsIsRefused() throws Exception {
        runOneRequest();
        a.dev.suspendIo();
        VirtioPciState s = a.dev.save();
        // b's memory is empty: its used ring says idx 0, the state says 1.
        assertThatThrownBy(() -> VirtioDriver.restored(new VirtioRng(new Random(2)), new GuardedMemory(), s))
                .isInstanceOf(DeviceMismatchException.class).hasMessageContaining("used idx 1");
    }

    @Test
    void suspendedIoDefersKicksUntilResumed() throws Exception {
        DriverQueue dq = runOneRequest();
        a.dev.suspendIo();
        dq.setDesc(1, 0x9000, 32, Virtqueue.F_WRITE, 0);
        dq.publish(1);
        a.kick(0);
        Thread.sleep(200); // nothing may happen while suspended; there is no event to wait for
        assertThat(dq.usedIdx()).isEqualTo(1);
        assertThat(a.dev.save().queues().getFirst().position().usedIdx()).isEqualTo(1);
        a.dev.resumeIo();
        a.awaitUsed(dq, 2);
    }
}
