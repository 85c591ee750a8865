package io.jkvm.snapshot;

import io.jkvm.config.BalloonConfig;
import io.jkvm.config.ConfigException;
import io.jkvm.config.DeviceConfig;
import io.jkvm.config.OnReboot;
import io.jkvm.config.VirtioTransport;
import io.jkvm.config.VmConfig;
import io.jkvm.config.VsockConfig;
import io.jkvm.net.MacAddress;
import io.jkvm.net.NetConfig;
import io.jkvm.resources.BucketConfig;
import io.jkvm.resources.RateLimitConfig;
import io.jkvm.storage.DiskConfig;
import io.jkvm.storage.DiskFormat;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * The VM configuration a snapshot was taken with (device state "vm_config"), so a restore can
 * re-open the same disks and TAP devices and refuse an incompatible target.
 *
 * <pre>
 * string kernel, u8 has initrd [string initrd], string cmdline, i32 cpus,
 * i64 memory bytes, u8 on-reboot ordinal, u8 nested,
 * u8 disks, per disk {string path, u8 read-only, u8 has id [string id], limit},
 * u8 nets, per net {string tap, 6 bytes MAC, limit rx, limit tx}, u8 rng, u8 virtio console,
 * [u8 has vsock [i64 guest CID, string uds_path]]   (absent in snapshots from before vsock: none)
 * [u8 virtio transport: 0 PCI, 1 MMIO]             (absent in snapshots from before virtio-mmio: PCI)
 * [u8 has balloon [i32 amount_mib, u8 deflate_on_oom, u16 stats interval s]]  (absent before the balloon: none)
 * [u8 has CPU template [template]]                  (absent in snapshots from before CPU templates: none;
 *                                                    template as {@link CpuTemplateState})
 *
 * limit = bandwidth bucket, ops bucket; bucket = {i64 size, i64 one-time burst, i64 refill ms}
 * </pre>
 * framed like every device state ({@link DeviceCodecs}: the section's format version, kind
 * "vm_config"); its codec is listed with the devices' in {@code io.jkvm.vmm.DeviceStateFormat}.
 * The rate limits are configuration: a restored VM enforces the limits its source had when the
 * snapshot was taken (after any {@code PATCH}), with full buckets.
 */
public final class VmConfigState {
    private VmConfigState() {}

    public static final String NAME = "vm_config";
    /** The configuration record's codec. */
    public static final RecordCodec<VmConfig> CODEC = RecordCodec.of("vm_config", VmConfig.class, VmConfigState::write,
            VmConfigState::read);
    private static final DeviceCodecs FORMAT = new DeviceCodecs(List.of(CODEC));
    static final int MAX_PATH = 4096;
    static final int MAX_DEVICES = 31;

    public static DeviceState capture(VmConfig c) {
        return FORMAT.encode(NAME, c);
    }

    /** The configuration saved by {@link #capture}; refused (SnapshotException naming the field) if malformed. */
    public static VmConfig decode(DeviceState s) {
        return FORMAT.decode(s, VmConfig.class);
    }

    private static void write(VmConfig c, StateWriter w) {
        w.string(c.kernel().toString()).bool(c.initrd().isPresent());
        c.initrd().ifPresent(p -> w.string(p.toString()));
        w.string(c.cmdline()).i32(c.cpus()).i64(c.memoryBytes()).u8(c.onReboot().ordinal()).bool(c.nested());
        DeviceConfig d = c.devices();
        w.u8(d.disks().size());
        for (DiskConfig disk : d.disks()) {
            w.string(disk.path().toAbsolutePath().toString()).bool(disk.readOnly()).bool(disk.id() != null);
            if (disk.id() != null) {
                w.string(disk.id());
            }
            writeLimit(w, disk.rateLimit());
        }
        w.u8(d.nets().size());
        for (NetConfig n : d.nets()) {
            w.string(n.tap());
            for (byte b : n.mac().bytes()) {
                w.u8(b);
            }
            writeLimit(w, n.rxRateLimit());
            writeLimit(w, n.txRateLimit());
        }
        w.bool(d.rng()).bool(d.virtioConsole());
        w.bool(d.vsock() != null);
        if (d.vsock() != null) {
            w.i64(d.vsock().guestCid()).string(d.vsock().udsPath().toString());
        }
        // Added after the vsock section so files written before it still read (their disks are raw).
        w.u8(d.disks().size());
        for (DiskConfig disk : d.disks()) {
            w.u8(disk.format().ordinal());
        }
        // Then the transport, absent from older files (PCI, the only one they knew).
        w.u8(c.virtioTransport().ordinal());
        BalloonConfig b = d.balloon();
        w.bool(b != null);
        if (b != null) {
            w.i32(b.amountMib()).bool(b.deflateOnOom()).u16(b.statsIntervalS());
        }
        // Then the CPU template, absent from older files (which had none).
        w.bool(!c.cpuTemplate().isNone());
        if (!c.cpuTemplate().isNone()) {
            CpuTemplateState.write(c.cpuTemplate(), w);
        }
    }

    private static VmConfig read(BoundedReader r) {
        try {
            Path kernel = Path.of(r.string("kernel path", MAX_PATH));
            Optional<Path> initrd = r.bool("initrd flag") ? Optional.of(Path.of(r.string("initrd path", MAX_PATH)))
                    : Optional.empty();
            String cmdline = r.string("command line", MAX_PATH);
            int cpus = r.count("vCPU count", MachineConfig.MAX_CPUS);
            long mem = r.i64("memory size");
            int reboot = r.u8("on-reboot");
            if (reboot >= OnReboot.values().length) {
                throw r.fail("on-reboot " + reboot + " unknown");
            }
            boolean nested = r.bool("nested");
            int nd = r.u8("disk count");
            if (nd > MAX_DEVICES) {
                throw r.fail("disk count " + nd + " exceeds " + MAX_DEVICES);
            }
            List<DiskConfig> disks = new ArrayList<>();
            for (int i = 0; i < nd; i++) {
                Path p = Path.of(r.string("disk path", MAX_PATH));
                boolean ro = r.bool("disk read-only");
                String id = r.bool("disk id flag") ? r.string("disk id", DiskConfig.MAX_ID) : null;
                disks.add(new DiskConfig(p, ro, id, readLimit(r, "disk rate limit")));
            }
            int nn = r.u8("network interface count");
            if (nn > MAX_DEVICES) {
                throw r.fail("network interface count " + nn + " exceeds " + MAX_DEVICES);
            }
            List<NetConfig> nets = new ArrayList<>();
            for (int i = 0; i < nn; i++) {
                String tap = r.string("TAP name", NetConfig.MAX_IFNAME);
                MacAddress mac = new MacAddress(r.bytes(6, "MAC"));
                RateLimitConfig rx = readLimit(r, "receive rate limit");
                nets.add(new NetConfig(tap, mac, rx, readLimit(r, "transmit rate limit")));
            }
            boolean rng = r.bool("rng");
            boolean vcon = r.bool("virtio console");
            VsockConfig vsock = null;
            if (r.remaining() > 0 && r.bool("vsock flag")) {
                long cid = r.i64("vsock guest_cid");
                vsock = new VsockConfig(cid, Path.of(r.string("vsock uds_path", MAX_PATH)));
            }
            if (r.remaining() > 0) {
                int nf = r.u8("disk format count");
                if (nf != disks.size()) {
                    throw r.fail("disk format count " + nf + " is not the disk count " + disks.size());
                }
                for (int i = 0; i < nf; i++) {
                    int f = r.u8("disk format");
                    if (f >= DiskFormat.values().length) {
                        throw r.fail("disk format " + f + " unknown");
                    }
                    DiskConfig k = disks.get(i);
                    disks.set(i, new DiskConfig(k.path(), k.readOnly(), k.id(), k.rateLimit(), DiskFormat.values()[f]));
                }
            }
            VirtioTransport transport = VirtioTransport.PCI;
            if (r.remaining() > 0) {
                transport = VirtioTransport.values()[r.u8("virtio transport", 0, VirtioTransport.values().length - 1)];
            }
            BalloonConfig balloon = null;
            if (r.remaining() > 0 && r.bool("balloon flag")) {
                balloon = new BalloonConfig(r.i32("balloon amount_mib"), r.bool("balloon deflate_on_oom"),
                        r.u16("balloon stats_polling_interval_s"));
            }
            io.jkvm.arch.x86.cpuid.CpuTemplate template = io.jkvm.arch.x86.cpuid.CpuTemplate.NONE;
            if (r.remaining() > 0 && r.bool("CPU template flag")) {
                template = CpuTemplateState.read(r);
            }
            if (cpus < 1 || mem <= 0) {
                throw r.fail("vCPU count " + cpus + " / memory " + mem + " out of range");
            }
            return new VmConfig(kernel, initrd, cmdline, cpus, mem, OnReboot.values()[reboot], nested,
                    new DeviceConfig(disks, nets, rng, vcon, vsock, balloon), transport, template);
        } catch (ConfigException | IllegalArgumentException e) { // InvalidPathException included
            throw r.fail(e.getMessage());
        }
    }

    private static void writeLimit(StateWriter w, RateLimitConfig c) {
        for (BucketConfig b : new BucketConfig[] {c.bandwidth(), c.ops()}) {
            w.i64(b.size()).i64(b.oneTimeBurst()).i64(b.refillTimeMs());
        }
    }

    /** A limit as {@link #writeLimit} wrote it; values BucketConfig refuses (negative, too long a refill) are refused naming {@code field}. */
    private static RateLimitConfig readLimit(BoundedReader r, String field) {
        long[] v = new long[6];
        String[] names = {"bandwidth size", "bandwidth burst", "bandwidth refill time", "ops size", "ops burst",
                "ops refill time"};
        for (int i = 0; i < v.length; i++) {
            v[i] = r.i64(field + " " + names[i]);
        }
        try {
            return new RateLimitConfig(new BucketConfig(v[0], v[1], v[2]), new BucketConfig(v[3], v[4], v[5]));
        } catch (IllegalArgumentException e) {
            throw r.fail(field + ": " + e.getMessage());
        }
    }

    /**
     * Why a VM saved with {@code saved} cannot be restored as {@code target}, or null. Paths and
     * image formats may differ (disks can be moved, converted, or copied by a live migration into
     * the destination's own qcow2 or raw image); what the guest sees may not: vCPUs, memory, the
     * virtio transport, the devices in slot order, read-only flags, disk ids, MACs. (A disk's size
     * is checked by its device's state.)
     */
    public static String incompatibility(VmConfig saved, VmConfig target) {
        if (saved.cpus() != target.cpus()) {
            return "the snapshot has " + saved.cpus() + " vCPUs, the configuration " + target.cpus();
        }
        if (saved.memoryBytes() != target.memoryBytes()) {
            return "the snapshot has " + (saved.memoryBytes() >> 20) + " MiB of memory, the configuration "
                    + (target.memoryBytes() >> 20) + " MiB";
        }
        if (saved.virtioTransport() != target.virtioTransport()) {
            return "the snapshot's virtio devices are on " + saved.virtioTransport().flagValue()
                    + ", the configuration puts them on " + target.virtioTransport().flagValue()
                    + " (--virtio-transport " + saved.virtioTransport().flagValue() + ")";
        }
        DeviceConfig a = saved.devices();
        DeviceConfig b = target.devices();
        if (a.disks().size() != b.disks().size()) {
            return "the snapshot has " + a.disks().size() + " disks, the configuration " + b.disks().size();
        }
        for (int i = 0; i < a.disks().size(); i++) {
            DiskConfig x = a.disks().get(i);
            DiskConfig y = b.disks().get(i);
            if (x.readOnly() != y.readOnly() || !Objects.equals(x.id(), y.id())) {
                return "disk " + (i + 1) + " (" + y.path() + ") differs from the snapshot's in read-only flag or id";
            }
        }
        if (a.nets().size() != b.nets().size()) {
            return "the snapshot has " + a.nets().size() + " network interfaces, the configuration " + b.nets().size();
        }
        for (int i = 0; i < a.nets().size(); i++) {
            if (!a.nets().get(i).mac().equals(b.nets().get(i).mac())) {
                return "network interface " + b.nets().get(i).tap() + " has MAC " + b.nets().get(i).mac()
                        + ", the snapshot's " + a.nets().get(i).mac();
            }
        }
        if (a.rng() != b.rng()) {
            return "the snapshot " + (a.rng() ? "has" : "has no") + " virtio-rng device";
        }
        if (a.virtioConsole() != b.virtioConsole()) {
            return "the snapshot's console is " + (a.virtioConsole() ? "virtio" : "serial");
        }
        if ((a.vsock() == null) != (b.vsock() == null)) {
            return "the snapshot " + (a.vsock() != null ? "has" : "has no") + " vsock device";
        }
        if (a.vsock() != null && a.vsock().guestCid() != b.vsock().guestCid()) {
            return "the snapshot's vsock guest_cid is " + a.vsock().guestCid() + ", the configuration's "
                    + b.vsock().guestCid(); // the guest knows its CID; the uds_path may differ
        }
        if ((a.balloon() == null) != (b.balloon() == null)) {
            return "the snapshot " + (a.balloon() != null ? "has" : "has no") + " balloon device";
        }
        if (a.balloon() != null && (a.balloon().deflateOnOom() != b.balloon().deflateOnOom()
                || (a.balloon().statsIntervalS() > 0) != (b.balloon().statsIntervalS() > 0))) {
            return "the balloon's features (deflate_on_oom, statistics on or off) differ from the snapshot's";
        }
        return null;
    }
}
