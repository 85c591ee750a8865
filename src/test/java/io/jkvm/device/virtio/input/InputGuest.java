package io.jkvm.device.virtio.input;

import io.jkvm.device.virtio.DeviceStatus;
import io.jkvm.device.virtio.DriverQueue;
import io.jkvm.device.virtio.VirtioDriver;
import io.jkvm.device.virtio.pci.VirtioPciDevice;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A fake virtio-input driver in guest memory, doing what Linux's does: negotiate, set up the
 * eventq and statusq, post 8-byte writable event buffers (descriptor i at {@link #EVENTS} + 8i),
 * and collect the events the device writes, in used-ring order.
 */
final class InputGuest implements AutoCloseable {
    static final int WRITE = 2; // VIRTQ_DESC_F_WRITE
    static final int QSIZE = 64;
    static final long EVENTS = 0x8000;
    static final long STATUS = 0xa000;

    final VirtioInput device;
    final VirtioDriver drv;
    final DriverQueue evq;
    final DriverQueue stq;
    private int statusNext;

    InputGuest(VirtioInput device) {
        this.device = device;
        drv = new VirtioDriver(device);
        assertThat(drv.negotiate(drv.deviceFeatures())).isTrue();
        evq = drv.setupQueue(VirtioInput.EVENTQ, 0x1000, QSIZE, VirtioPciDevice.NO_VECTOR);
        stq = drv.setupQueue(VirtioInput.STATUSQ, 0x3000, QSIZE, VirtioPciDevice.NO_VECTOR);
        drv.driverOk();
    }

    /** Posts event buffer {@code i} ({@code len} bytes, {@code flags}) and kicks. */
    void post(int i, long len, int flags) {
        evq.setDesc(i, EVENTS + 8L * i, len, flags, 0);
        evq.publish(i);
        drv.kick(VirtioInput.EVENTQ);
    }

    /** Posts the 8-byte writable buffers {@code from}..{@code to - 1}. */
    void postRange(int from, int to) {
        for (int i = from; i < to; i++) {
            evq.setDesc(i, EVENTS + 8L * i, 8, WRITE, 0);
            evq.publish(i);
        }
        drv.kick(VirtioInput.EVENTQ);
    }

    /** Waits for the used index to reach {@code idx}. */
    void awaitUsed(int idx) {
        drv.awaitUsed(evq, idx & 0xffff);
    }

    /** The used elements not yet seen, as {id, len}. */
    List<int[]> takeUsed() {
        List<int[]> out = new ArrayList<>();
        for (int[] e; (e = evq.nextUsed()) != null; ) {
            out.add(e);
        }
        return out;
    }

    /** The event in buffer {@code i}, packed as {@link InputCodes#pack}. */
    long event(int i) {
        long a = EVENTS + 8L * i;
        int type = drv.gm.memory.readShort(a) & 0xffff;
        int code = drv.gm.memory.readShort(a + 2) & 0xffff;
        int value = drv.gm.memory.readInt(a + 4);
        return InputCodes.pack(type, code, value);
    }

    /** Consumes every used buffer (each must carry one event) and reposts it, as Linux does. */
    List<Long> collectAndRepost() {
        List<Long> events = new ArrayList<>();
        for (int[] e : takeUsed()) {
            assertThat(e[1]).as("used length of buffer %d", e[0]).isEqualTo(8);
            events.add(event(e[0]));
            evq.setDesc(e[0], EVENTS + 8L * e[0], 8, WRITE, 0);
            evq.publish(e[0]);
        }
        drv.kick(VirtioInput.EVENTQ);
        return events;
    }

    /** Sends one status buffer of {@code bytes} (device-readable unless {@code flags} say otherwise). */
    void status(byte[] bytes, int flags) {
        int i = statusNext++ % QSIZE;
        long a = STATUS + 16L * i;
        drv.gm.memory.write(a, bytes);
        stq.setDesc(i, a, bytes.length, flags, 0);
        stq.publish(i);
        drv.kick(VirtioInput.STATUSQ);
    }

    void assertHealthy() {
        assertThat(drv.status() & DeviceStatus.DEVICE_NEEDS_RESET).as("device needs no reset").isZero();
    }

    @Override
    public void close() {
        drv.close();
    }
}
