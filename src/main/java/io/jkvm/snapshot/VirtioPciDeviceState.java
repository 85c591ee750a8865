package io.jkvm.snapshot;

import io.jkvm.device.pci.PciConfigSpace;
import io.jkvm.device.virtio.Virtqueue;
import io.jkvm.device.virtio.pci.MsixTable;
import io.jkvm.device.virtio.pci.VirtioPciDevice;
import io.jkvm.device.virtio.pci.VirtioPciState;
import io.jkvm.device.virtio.pci.VirtioPciLayout;

import java.util.ArrayList;
import java.util.List;

/**
 * {@link DeviceState} codec for one virtio-pci function ({@link VirtioPciState}).
 *
 * <pre>
 * u8 version (1), u8 device type
 * blob PCI config space (256 bytes)
 * u16 MSI-X vectors n (1..2048), n x {i64 address, i32 data, u8 masked, u8 pending}, u8 enabled, u8 function mask
 * i32 device_feature_select, i32 driver_feature_select, i64 driver features (virtio 1.2 §4.1.4.3)
 * u8 device_status, u8 config_generation, u16 queue_select, u16 msix_config, u8 ISR (§4.1.4.5)
 * u16 queues q (1..MAX_QUEUES), q x {u16 size, u16 msix_vector, u8 enabled, i64 desc, i64 driver, i64 device,
 *     if enabled: u16 last_avail_idx, u16 used_idx, u16 signalled used idx, u8 signalled valid}
 * blob device state (at most 64 KiB)
 * </pre>
 * Decoding bounds every count before allocating and turns every value error into a
 * {@link SnapshotException}; values that depend on the device (sizes, vectors, rings in guest
 * RAM) are checked by {@link VirtioPciDevice#restoreState}.
 */
public final class VirtioPciDeviceState {
    private VirtioPciDeviceState() {}

    static final int VERSION = 1;
    static final int MAX_VECTORS = 2048;
    static final int MAX_DEVICE_STATE = 64 << 10;

    /** Captures a function whose I/O is suspended ({@link VirtioPciDevice#suspendIo}). */
    public static DeviceState capture(String name, VirtioPciDevice d) {
        return DeviceState.of(name, encode(d.captureState()));
    }

    /** Applies a saved state to a freshly created function; refusals name the device and field. */
    public static void apply(DeviceState s, VirtioPciDevice d) {
        VirtioPciState st = decode(s.name(), s.bytes());
        try {
            d.restoreState(st);
        } catch (IllegalArgumentException e) {
            throw new SnapshotException("device " + s.name() + ": " + e.getMessage(), e);
        }
    }

    static byte[] encode(VirtioPciState s) {
        StateWriter w = new StateWriter().u8(VERSION).u8(s.deviceType()).blob(s.pciConfig());
        MsixTable.State m = s.msix();
        w.u16(m.size());
        for (int i = 0; i < m.size(); i++) {
            w.i64(m.address()[i]).i32(m.data()[i]).bool(m.masked()[i]).bool(m.pending()[i]);
        }
        w.bool(m.enabled()).bool(m.functionMasked());
        w.i32(s.deviceFeatureSelect()).i32(s.driverFeatureSelect()).i64(s.driverFeatures());
        w.u8(s.status()).u8(s.configGeneration()).u16(s.queueSelect()).u16(s.msixConfig()).u8(s.isr());
        w.u16(s.queues().size());
        for (VirtioPciState.Queue q : s.queues()) {
            w.u16(q.size()).u16(q.msixVector()).bool(q.enabled()).i64(q.desc()).i64(q.driver()).i64(q.device());
            if (q.enabled()) {
                Virtqueue.Position p = q.position();
                w.u16(p.lastAvail()).u16(p.usedIdx()).u16(p.signalledUsed()).bool(p.signalledValid());
            }
        }
        return w.blob(s.deviceState()).toByteArray();
    }

    static VirtioPciState decode(String name, byte[] b) {
        BoundedReader r = new BoundedReader(b, 0, b.length, null, "device " + name);
        r.version(VERSION, "virtio-pci state");
        int type = r.u8("device type");
        byte[] cfg = r.blob("PCI config space", PciConfigSpace.SIZE);
        if (cfg.length != PciConfigSpace.SIZE) {
            throw r.fail("PCI config space is " + cfg.length + " bytes, not " + PciConfigSpace.SIZE);
        }
        int n = r.u16("MSI-X vector count");
        if (n < 1 || n > MAX_VECTORS) {
            throw r.fail("MSI-X vector count " + n + " outside 1.." + MAX_VECTORS);
        }
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
        int isr = r.u8("ISR");
        int nq = r.u16("queue count");
        if (nq < 1 || nq > VirtioPciLayout.MAX_QUEUES) {
            throw r.fail("queue count " + nq + " outside 1.." + VirtioPciLayout.MAX_QUEUES);
        }
        List<VirtioPciState.Queue> queues = new ArrayList<>(nq);
        try {
            for (int q = 0; q < nq; q++) {
                int size = r.u16("queue " + q + " size");
                int vector = r.u16("queue " + q + " msix_vector");
                boolean enabled = r.bool("queue " + q + " enable");
                long desc = r.i64("queue " + q + " desc");
                long driver = r.i64("queue " + q + " driver");
                long device = r.i64("queue " + q + " device");
                Virtqueue.Position pos = null;
                if (enabled) {
                    pos = new Virtqueue.Position(r.u16("queue " + q + " last avail idx"), r.u16("queue " + q + " used idx"),
                            r.u16("queue " + q + " signalled used idx"), r.bool("queue " + q + " signalled valid"));
                }
                queues.add(new VirtioPciState.Queue(size, vector, enabled, desc, driver, device, pos));
            }
            byte[] dev = r.blob("device state", MAX_DEVICE_STATE);
            r.expectEnd();
            return new VirtioPciState(type, cfg, msix, dfs, drfs, features, status, gen, qsel, msixConfig, isr, queues, dev);
        } catch (IllegalArgumentException e) {
            throw r.fail(e.getMessage());
        }
    }
}
