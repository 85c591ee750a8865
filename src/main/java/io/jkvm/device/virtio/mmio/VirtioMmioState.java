package io.jkvm.device.virtio.mmio;

import io.jkvm.device.virtio.VirtioCoreState;
import io.jkvm.device.virtio.Virtqueue;
import io.jkvm.snapshot.BoundedReader;
import io.jkvm.snapshot.RecordCodec;
import io.jkvm.snapshot.StateWriter;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Everything guest-visible of one virtio-mmio device, for snapshots and migration: the
 * transport-independent registers and queues ({@link VirtioCoreState}), InterruptStatus
 * (virtio 1.2 §4.2.2) and the device model's own record, nested by kind. The base address and
 * interrupt line are the VM's layout, not state: the restoring VM places the device again.
 * Captured with the device's I/O stopped. The record checks shapes; the restore checks values
 * against the device ({@link VirtioMmioDevice#restore}).
 */
public record VirtioMmioState(VirtioCoreState core, int interruptStatus) {
    /**
     * <pre>
     * u8 device type
     * i32 DeviceFeaturesSel, i32 DriverFeaturesSel, i64 driver features
     * u8 Status, u8 ConfigGeneration, u16 QueueSel, u8 InterruptStatus (bits 0-1)
     * u16 queues q (1..MAX_QUEUES), q x {u16 QueueNum, u8 QueueReady, i64 desc, i64 driver, i64 device,
     *     if ready: u16 last_avail_idx, u16 used_idx, u16 signalled used idx, u8 signalled valid}
     * the device's own state (nested record: kind, fields)
     * </pre>
     */
    public static final RecordCodec<VirtioMmioState> CODEC = RecordCodec.of("virtio-mmio", VirtioMmioState.class,
            VirtioMmioState::write, VirtioMmioState::read);

    public VirtioMmioState {
        Objects.requireNonNull(core, "core");
        if ((interruptStatus & ~3) != 0) {
            throw new IllegalArgumentException("InterruptStatus " + interruptStatus + " has bits other than 0 and 1");
        }
        if (core.status() < 0 || core.status() > 0xff || core.configGeneration() < 0 || core.configGeneration() > 0xff) {
            throw new IllegalArgumentException("status or config generation is not a byte");
        }
        if (core.queueSelect() < 0 || core.queueSelect() > 0xffff) {
            throw new IllegalArgumentException("QueueSel " + core.queueSelect() + " is not a u16");
        }
        if (core.queues().isEmpty() || core.queues().size() > VirtioMmioLayout.MAX_QUEUES) {
            throw new IllegalArgumentException(core.queues().size() + " queues");
        }
        for (VirtioCoreState.Queue q : core.queues()) {
            if (q.size() < 1 || q.size() > Virtqueue.MAX_SIZE || Integer.bitCount(q.size()) != 1) {
                throw new IllegalArgumentException("queue size " + q.size() + " is not a power of two in 1.."
                        + Virtqueue.MAX_SIZE);
            }
        }
    }

    static VirtioMmioState of(VirtioCoreState core, int interruptStatus) {
        return new VirtioMmioState(core, interruptStatus);
    }

    private static void write(VirtioMmioState s, StateWriter w) {
        VirtioCoreState c = s.core;
        w.u8(c.deviceType());
        w.i32(c.deviceFeatureSelect()).i32(c.driverFeatureSelect()).i64(c.driverFeatures());
        w.u8(c.status()).u8(c.configGeneration()).u16(c.queueSelect()).u8(s.interruptStatus);
        w.u16(c.queues().size());
        for (VirtioCoreState.Queue q : c.queues()) {
            w.u16(q.size()).bool(q.enabled()).i64(q.desc()).i64(q.driver()).i64(q.device());
            if (q.enabled()) {
                q.position().write(w);
            }
        }
        w.nested(c.device());
    }

    private static VirtioMmioState read(BoundedReader r) {
        int type = r.u8("device type");
        int dfs = r.i32("DeviceFeaturesSel");
        int drfs = r.i32("DriverFeaturesSel");
        long features = r.i64("driver features");
        int status = r.u8("Status");
        int gen = r.u8("ConfigGeneration");
        int qsel = r.u16("QueueSel");
        int is = r.u8("InterruptStatus", 0, 3);
        int nq = r.u16("queue count", 1, VirtioMmioLayout.MAX_QUEUES);
        List<VirtioCoreState.Queue> queues = new ArrayList<>(nq);
        for (int q = 0; q < nq; q++) {
            int size = r.u16("queue " + q + " QueueNum");
            boolean ready = r.bool("queue " + q + " QueueReady");
            long desc = r.i64("queue " + q + " desc");
            long driver = r.i64("queue " + q + " driver");
            long device = r.i64("queue " + q + " device");
            Virtqueue.Position pos = null;
            if (ready) {
                pos = Virtqueue.Position.read(r, "queue " + q);
            }
            queues.add(new VirtioCoreState.Queue(size, ready, desc, driver, device, pos));
        }
        Record dev = r.nested(Record.class, "device state");
        try {
            return new VirtioMmioState(new VirtioCoreState(type, dfs, drfs, features, status, gen, qsel, queues, dev), is);
        } catch (IllegalArgumentException e) {
            throw r.fail(e.getMessage());
        }
    }
}
