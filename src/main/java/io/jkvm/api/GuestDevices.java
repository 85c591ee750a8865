package io.jkvm.api;

import io.jkvm.config.ConfigException;
import io.jkvm.config.DeviceConfig;
import io.jkvm.config.VmConfig;
import io.jkvm.net.MacAddress;
import io.jkvm.net.NetConfig;
import io.jkvm.storage.DiskConfig;

import java.util.ArrayList;
import java.util.List;

/**
 * Where configured drives and network interfaces become guest devices: virtio-blk and
 * virtio-net on PCI, each with its rate limiters ({@link RateLimiter#toConfig}). As in Firecracker,
 * the root drive comes first (so it is /dev/vda) and, unless the boot arguments already say where
 * the root is, {@code root=/dev/vda ro|rw} (or the root drive's {@code root=PARTUUID=...}) is added.
 */
public final class GuestDevices {
    private GuestDevices() {}

    public static VmConfig withDevices(VmConfig config, List<Drive> drives, List<NetworkInterface> nics) {
        return withDevices(config, drives, nics, false);
    }

    /** The same, with a virtio-rng device when {@code entropy} ({@code PUT /entropy}). */
    public static VmConfig withDevices(VmConfig config, List<Drive> drives, List<NetworkInterface> nics, boolean entropy) {
        List<Drive> ordered = new ArrayList<>();
        drives.stream().filter(d -> Boolean.TRUE.equals(d.isRootDevice())).forEach(ordered::add);
        drives.stream().filter(d -> !Boolean.TRUE.equals(d.isRootDevice())).forEach(ordered::add);
        try {
            List<DiskConfig> disks = ordered.stream().map(d -> new DiskConfig(HostPaths.usable("path_on_host", d.pathOnHost()),
                    d.readOnly(), serial(d.driveId()), RateLimiter.toConfig(d.rateLimiter()), d.diskFormat())).toList();
            List<NetConfig> nets = nics.stream().map(n -> new NetConfig(n.hostDevName(),
                    n.guestMac() != null ? MacAddress.parse(n.guestMac()) : MacAddress.randomLocal(),
                    RateLimiter.toConfig(n.rxRateLimiter()), RateLimiter.toConfig(n.txRateLimiter()))).toList();
            String cmdline = config.cmdline();
            if (!ordered.isEmpty() && Boolean.TRUE.equals(ordered.get(0).isRootDevice())
                    && !(" " + cmdline).contains(" root=")) {
                cmdline = cmdline + " " + Partuuid.rootArgument(ordered.get(0)) + " " + (ordered.get(0).readOnly() ? "ro" : "rw");
            }
            return new VmConfig(config.kernel(), config.initrd(), cmdline, config.cpus(), config.memoryBytes(),
                    config.onReboot(), config.nested(), new DeviceConfig(disks, nets, entropy, false), config.virtioTransport(),
                    config.cpuTemplate());
        } catch (ConfigException | IllegalArgumentException e) {
            throw ApiException.badRequest(e.getMessage());
        }
    }

    /** The virtio-blk serial (GET_ID) holds at most 20 bytes; longer drive ids are cut. */
    static String serial(String driveId) {
        return driveId.length() <= DiskConfig.MAX_ID ? driveId : driveId.substring(0, DiskConfig.MAX_ID);
    }
}
