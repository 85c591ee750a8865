package io.jkvm.device.virtio.vsock;

import io.jkvm.device.virtio.DeviceStatus;
import io.jkvm.device.virtio.DriverQueue;
import io.jkvm.device.virtio.GuardedMemory;
import io.jkvm.device.virtio.VirtioDriver;
import io.jkvm.device.virtio.VirtioFeatures;
import io.jkvm.device.virtio.pci.VirtioPciDevice;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A test "guest driver" for {@link VirtioVsock}: the three queues in {@link GuardedMemory}, eight
 * receive buffers of a header plus 4 KiB kept posted, transmit packets written one chain each,
 * like Linux's virtio_transport would. CID {@link #CID}; the host socket is {@code dir/v.sock}.
 */
final class VsockGuest implements AutoCloseable {
    static final long CID = 3;
    static final int RX_PAYLOAD = 4096;
    static final int RX_BUF = VsockHeader.SIZE + RX_PAYLOAD;
    static final int RX_BUFS = 8;
    private static final long RX_BASE = 0x2000;
    private static final long TX_BASE = GuardedMemory.HIGH;
    private static final int TX_SLOT = 0x1000;
    /** VIRTQ_DESC_F_WRITE (§2.7.5). */
    private static final int F_WRITE = 2;

    /** A packet the device put on the receive queue. */
    record Packet(VsockHeader h, byte[] payload) {}

    final Path uds;
    final VirtioVsock dev;
    final VirtioDriver drv;
    final DriverQueue rx;
    final DriverQueue tx;
    final DriverQueue ev;
    private int txSent;
    /** The buf_alloc and fwd_cnt this guest puts in its headers. */
    int bufAlloc = 64 * 1024;
    int fwdCnt;

    VsockGuest(Path dir) throws IOException {
        this(dir, VirtioVsock.REQUEST_TIMEOUT_NANOS);
    }

    /** With the given timeout for host REQUESTs the guest leaves unanswered. */
    VsockGuest(Path dir, long requestTimeoutNanos) throws IOException {
        uds = dir.resolve("v.sock");
        dev = new VirtioVsock(CID, uds, requestTimeoutNanos);
        drv = new VirtioDriver(dev);
        assertThat(drv.negotiate(VirtioFeatures.bit(VirtioFeatures.VERSION_1))).isTrue();
        rx = drv.setupQueue(VirtioVsock.RX, 0x1000, 16, VirtioPciDevice.NO_VECTOR);
        tx = drv.setupQueue(VirtioVsock.TX, 0x1400, 16, VirtioPciDevice.NO_VECTOR);
        ev = drv.setupQueue(VirtioVsock.EVENT, 0x1800, 16, VirtioPciDevice.NO_VECTOR);
        drv.driverOk();
    }

    /** Posts the receive buffers (the device has nothing to send the guest before). */
    void postRx() {
        for (int i = 0; i < RX_BUFS; i++) {
            rx.setDesc(i, RX_BASE + (long) i * RX_BUF, RX_BUF, F_WRITE, 0);
            rx.publish(i);
        }
        drv.kick(VirtioVsock.RX);
    }

    /** A header from the guest (CID 3) to the host (CID 2) with this guest's credit fields. */
    VsockHeader hdr(int op, int srcPort, int dstPort, int len, int flags) {
        return new VsockHeader(CID, VirtioVsock.HOST_CID, srcPort, dstPort, len, VsockHeader.TYPE_STREAM, op, flags,
                bufAlloc, fwdCnt);
    }

    /** Sends one packet (header and payload in one readable buffer) and waits until the device used it. */
    void send(VsockHeader h, byte[] payload) {
        sendRaw(h.encode(), payload);
    }

    void sendRaw(byte[] header, byte[] payload) {
        publishRaw(header, payload);
        drv.awaitUsed(tx, txSent & 0xffff);
    }

    /** Publishes one packet and kicks, without waiting for the device to use it; returns how many were published. */
    int publishRaw(byte[] header, byte[] payload) {
        assertThat(header.length + payload.length).isLessThanOrEqualTo(TX_SLOT);
        int slot = txSent % 16;
        long addr = TX_BASE + (long) slot * TX_SLOT;
        byte[] all = Arrays.copyOf(header, header.length + payload.length);
        System.arraycopy(payload, 0, all, header.length, payload.length);
        drv.gm.memory.write(addr, all);
        tx.setDesc(slot, addr, all.length, 0, 0);
        tx.publish(slot);
        txSent++;
        drv.kick(VirtioVsock.TX);
        return txSent;
    }

    void send(int op, int srcPort, int dstPort, byte[] payload) {
        send(hdr(op, srcPort, dstPort, payload.length, 0), payload);
    }

    /** The next packet on the receive queue (its buffer is posted again); fails after {@link VirtioDriver#WAIT}. */
    Packet receive() {
        int[][] e = new int[1][];
        VirtioDriver.await("a packet on the receive queue", () -> (e[0] = rx.nextUsed()) != null);
        return take(e[0]);
    }

    /** The next packet if one is on the used ring now, else null. */
    Packet poll() {
        int[] e = rx.nextUsed();
        return e == null ? null : take(e);
    }

    private Packet take(int[] e) {
        long addr = RX_BASE + (long) e[0] * RX_BUF;
        assertThat(e[1]).as("used length").isBetween(VsockHeader.SIZE, RX_BUF);
        VsockHeader h = VsockHeader.decode(drv.gm.memory.read(addr, VsockHeader.SIZE));
        byte[] payload = drv.gm.memory.read(addr + VsockHeader.SIZE, e[1] - VsockHeader.SIZE);
        assertThat(h.lenUnsigned()).as("len matches the used length").isEqualTo(payload.length);
        rx.publish(e[0]);
        drv.kick(VirtioVsock.RX);
        return new Packet(h, payload);
    }

    /** The device has not failed (no DEVICE_NEEDS_RESET) and wrote nowhere outside guest RAM. */
    void assertHealthy() {
        assertThat(drv.status() & DeviceStatus.DEVICE_NEEDS_RESET).as("DEVICE_NEEDS_RESET").isZero();
        drv.gm.assertGuardsIntact();
    }

    @Override
    public void close() {
        drv.close();
    }
}
