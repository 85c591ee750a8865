package io.jkvm.config;

import io.jkvm.net.NetConfig;
import io.jkvm.storage.DiskConfig;

import java.util.List;

/**
 * The virtio devices of a VM, in PCI slot order: disks, then network interfaces, then the
 * entropy device, the virtio console, the vsock device and the memory balloon.
 *
 * @param disks virtio-blk devices (--disk)
 * @param nets virtio-net devices on TAP interfaces (--net)
 * @param rng a virtio-rng device fed from the host's entropy (--rng)
 * @param virtioConsole the console is hvc0 (virtio-console) instead of ttyS0 (--console virtio)
 * @param vsock a virtio-vsock device (--vsock, {@code PUT /vsock}), or null
 * @param balloon a virtio-balloon device ({@code PUT /balloon}), or null
 * @param display a bochs-display framebuffer on PCI after the virtio functions ({@code --display}), or null
 */
public record DeviceConfig(List<DiskConfig> disks, List<NetConfig> nets, boolean rng, boolean virtioConsole,
        VsockConfig vsock, BalloonConfig balloon, DisplayConfig display) {
    public static final DeviceConfig NONE = new DeviceConfig(List.of(), List.of(), false, false);

    /** Without a vsock device. */
    public DeviceConfig(List<DiskConfig> disks, List<NetConfig> nets, boolean rng, boolean virtioConsole) {
        this(disks, nets, rng, virtioConsole, null);
    }

    /** Without a display. */
    public DeviceConfig(List<DiskConfig> disks, List<NetConfig> nets, boolean rng, boolean virtioConsole,
            VsockConfig vsock, BalloonConfig balloon) {
        this(disks, nets, rng, virtioConsole, vsock, balloon, null);
    }

    /** Without a balloon. */
    public DeviceConfig(List<DiskConfig> disks, List<NetConfig> nets, boolean rng, boolean virtioConsole,
            VsockConfig vsock) {
        this(disks, nets, rng, virtioConsole, vsock, null);
    }

    /** The same devices with {@code v} as the vsock device (null: none). */
    public DeviceConfig withVsock(VsockConfig v) {
        return new DeviceConfig(disks, nets, rng, virtioConsole, v, balloon, display);
    }

    /** The same devices with {@code b} as the balloon (null: none). */
    public DeviceConfig withBalloon(BalloonConfig b) {
        return new DeviceConfig(disks, nets, rng, virtioConsole, vsock, b, display);
    }

    /** The same devices with {@code d} as the display (null: none). */
    public DeviceConfig withDisplay(DisplayConfig d) {
        return new DeviceConfig(disks, nets, rng, virtioConsole, vsock, balloon, d);
    }

    /** The same devices with these disks. */
    public DeviceConfig withDisks(List<DiskConfig> d) {
        return new DeviceConfig(d, nets, rng, virtioConsole, vsock, balloon, display);
    }

    /** The same devices with these network interfaces. */
    public DeviceConfig withNets(List<NetConfig> n) {
        return new DeviceConfig(disks, n, rng, virtioConsole, vsock, balloon, display);
    }

    /** A display comes with a virtio-input keyboard and tablet (for VNC and the web console). */
    public static final int INPUT_DEVICES = 2;

    /** How many virtio devices these are (one transport each; the display is not one, its input devices are). */
    public int count() {
        return disks.size() + nets.size() + (rng ? 1 : 0) + (virtioConsole ? 1 : 0) + (vsock != null ? 1 : 0)
                + (balloon != null ? 1 : 0) + (display != null ? INPUT_DEVICES : 0);
    }

    public DeviceConfig {
        disks = List.copyOf(disks);
        nets = List.copyOf(nets);
        long ids = disks.stream().map(DiskConfig::id).filter(java.util.Objects::nonNull).distinct().count();
        if (ids != disks.stream().map(DiskConfig::id).filter(java.util.Objects::nonNull).count()) {
            throw new ConfigException("--disk: two disks have the same id");
        }
        if (disks.stream().map(d -> d.path().toAbsolutePath().normalize()).distinct().count() != disks.size()) {
            throw new ConfigException("--disk: the same image is given twice");
        }
        if (nets.stream().map(NetConfig::tap).distinct().count() != nets.size()) {
            throw new ConfigException("--net: the same TAP interface is given twice");
        }
        // The guest MAC is an interface's id in snapshots and migration (and two NICs with one MAC confuse any LAN).
        if (nets.stream().map(NetConfig::mac).distinct().count() != nets.size()) {
            throw new ConfigException("--net: two interfaces have the same MAC");
        }
        if (disks.size() + nets.size() + 2 + (vsock != null ? 1 : 0) + (balloon != null ? 1 : 0) + (display != null ? 1 + INPUT_DEVICES : 0) > 31) {
            throw new ConfigException("too many devices: a PCI bus has 31 slots");
        }
    }
}
