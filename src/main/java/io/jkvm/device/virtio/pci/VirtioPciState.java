package io.jkvm.device.virtio.pci;

import io.jkvm.device.pci.PciConfigSpace;
import io.jkvm.device.virtio.Virtqueue;
import io.jkvm.snapshot.BoundedReader;
import io.jkvm.snapshot.RecordCodec;
import io.jkvm.snapshot.StateWriter;

import java.util.ArrayList;

import java.util.List;

/**
 * Everything guest-visible of one virtio-pci function, for snapshots and migration: its PCI
 * configuration space, MSI-X table, the common configuration registers (virtio 1.2 §4.1.4.3),
 * the ISR (§4.1.4.5), each queue's driver-programmed values and ring position, and the
 * device model's own state record ({@link io.jkvm.device.virtio.VirtioDevice#save}, nested by kind).
 * Captured with the device's I/O stopped, so no request is in flight.
 *
 * <p>The record only checks shapes; the restore ({@link VirtioDevices#restore}) checks the values
 * against the device it is applied to (features offered, queue sizes, vectors, guest RAM).
 */
public record VirtioPciState(int deviceType, byte[] pciConfig, MsixTable.State msix, int deviceFeatureSelect,
        int driverFeatureSelect, long driverFeatures, int status, int configGeneration, int queueSelect,
        int msixConfig, int isr, List<Queue> queues, Record device) {
    /** Most MSI-X vectors a saved table may have (PCI 3.0 §6.8.2: 2048). */
    public static final int MAX_VECTORS = 2048;

    /**
     * <pre>
     * u8 device type, blob PCI config space (256 bytes),
     * u16 MSI-X vectors n (1..2048), n x {i64 address, i32 data, u8 masked, u8 pending}, u8 enabled, u8 function mask
     * i32 device_feature_select, i32 driver_feature_select, i64 driver features (virtio 1.2 §4.1.4.3)
     * u8 device_status, u8 config_generation, u16 queue_select, u16 msix_config, u8 ISR (§4.1.4.5)
     * u16 queues q (1..MAX_QUEUES), q x {u16 size, u16 msix_vector, u8 enabled, i64 desc, i64 driver, i64 device,
     *     if enabled: u16 last_avail_idx, u16 used_idx, u16 signalled used idx, u8 signalled valid}
     * the device's own state (nested record: kind, fields)
     * </pre>
     */
    public static final RecordCodec<VirtioPciState> CODEC = RecordCodec.of("virtio-pci", VirtioPciState.class,
            VirtioPciState::write, VirtioPciState::read);

    private static void write(VirtioPciState s, StateWriter w) {
        w.u8(s.deviceType).blob(s.pciConfig);
        MsixTable.State m = s.msix;
        w.u16(m.size());
        for (int i = 0; i < m.size(); i++) {
            w.i64(m.address()[i]).i32(m.data()[i]).bool(m.masked()[i]).bool(m.pending()[i]);
        }
        w.bool(m.enabled()).bool(m.functionMasked());
        w.i32(s.deviceFeatureSelect).i32(s.driverFeatureSelect).i64(s.driverFeatures);
        w.u8(s.status).u8(s.configGeneration).u16(s.queueSelect).u16(s.msixConfig).u8(s.isr);
        w.u16(s.queues.size());
        for (Queue q : s.queues) {
            w.u16(q.size()).u16(q.msixVector()).bool(q.enabled()).i64(q.desc()).i64(q.driver()).i64(q.device());
            if (q.enabled()) {
                q.position().write(w);
            }
        }
        w.nested(s.device);
    }

    private static VirtioPciState read(BoundedReader r) {
        int type = r.u8("device type");
        byte[] cfg = r.blob("PCI config space", PciConfigSpace.SIZE);
        if (cfg.length != PciConfigSpace.SIZE) {
            throw r.fail("PCI config space is " + cfg.length + " bytes, not " + PciConfigSpace.SIZE);
        }
        int n = r.u16("MSI-X vector count", 1, MAX_VECTORS);
        long[] addr = new long[n];
        int[] data = new int[n];
        boolean[] masked = new boolean[n];
        boolean[] pending = new boolean[n];
        for (int i = 0; i < n; i++) {
            addr[i] = r.i64("MSI-X address");
            data[i] = r.i32("MSI-X data");
            masked[i] = r.bool("MSI-X mask");
            pending[i] = r.bool("MSI-X pending");
        }
        MsixTable.State msix = new MsixTable.State(addr, data, masked, pending, r.bool("MSI-X enable"),
                r.bool("MSI-X function mask"));
        int dfs = r.i32("device_feature_select");
        int drfs = r.i32("driver_feature_select");
        long features = r.i64("driver features");
        int status = r.u8("device_status");
        int gen = r.u8("config_generation");
        int qsel = r.u16("queue_select");
        int msixConfig = r.u16("msix_config");
        int isr = r.u8("ISR", 0, 3);
        int nq = r.u16("queue count", 1, VirtioPciLayout.MAX_QUEUES);
        List<Queue> queues = new ArrayList<>(nq);
        for (int q = 0; q < nq; q++) {
            int size = r.u16("queue " + q + " size");
            int vector = r.u16("queue " + q + " msix_vector");
            boolean enabled = r.bool("queue " + q + " enable");
            long desc = r.i64("queue " + q + " desc");
            long driver = r.i64("queue " + q + " driver");
            long device = r.i64("queue " + q + " device");
            Virtqueue.Position pos = null;
            if (enabled) {
                pos = Virtqueue.Position.read(r, "queue " + q);
            }
            try {
                queues.add(new Queue(size, vector, enabled, desc, driver, device, pos));
            } catch (IllegalArgumentException e) {
                throw r.fail("queue " + q + ": " + e.getMessage());
            }
        }
        Record dev = r.nested(Record.class, "device state");
        return new VirtioPciState(type, cfg, msix, dfs, drfs, features, status, gen, qsel, msixConfig, isr, queues, dev);
    }


    /** One queue: §4.1.4.3 queue_size/msix_vector/enable/desc/driver/device, and its ring position if enabled. */
    public record Queue(int size, int msixVector, boolean enabled, long desc, long driver, long device,
            Virtqueue.Position position) {
        public Queue {
            if (size < 1 || size > Virtqueue.MAX_SIZE || Integer.bitCount(size) != 1) {
                throw new IllegalArgumentException("queue size " + size + " is not a power of two in 1.."
                        + Virtqueue.MAX_SIZE);
            }
            if (msixVector < 0 || msixVector > 0xffff) {
                throw new IllegalArgumentException("queue MSI-X vector " + msixVector + " is not a u16");
            }
            if (enabled != (position != null)) {
                throw new IllegalArgumentException("a queue has a ring position exactly when it is enabled");
            }
        }
    }

    public VirtioPciState {
        pciConfig = pciConfig.clone();
        java.util.Objects.requireNonNull(device, "device state");
        if (pciConfig.length != PciConfigSpace.SIZE) {
            throw new IllegalArgumentException("PCI config space is " + pciConfig.length + " bytes, not " + PciConfigSpace.SIZE);
        }
        queues = List.copyOf(queues);
        if (status < 0 || status > 0xff) {
            throw new IllegalArgumentException("device status " + status + " is not a byte");
        }
        if (configGeneration < 0 || configGeneration > 0xff) {
            throw new IllegalArgumentException("config generation " + configGeneration + " is not a byte");
        }
        for (int v : new int[] {queueSelect, msixConfig}) {
            if (v < 0 || v > 0xffff) {
                throw new IllegalArgumentException("queue_select/msix_config " + v + " is not a u16");
            }
        }
        if ((isr & ~3) != 0) {
            throw new IllegalArgumentException("ISR " + isr + " has bits other than queue (1) and config (2)");
        }
    }

    @Override
    public byte[] pciConfig() {
        return pciConfig.clone();
    }
}
