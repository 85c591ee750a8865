package io.jkvm.api;

import io.jkvm.config.ConfigException;
import io.jkvm.config.VmConfig;
import io.jkvm.device.virtio.VirtioBlock;
import io.jkvm.migration.MigrationException;
import io.jkvm.migration.VmShape;
import io.jkvm.net.MacAddress;
import io.jkvm.snapshot.MachineConfig;
import io.jkvm.storage.DiskConfig;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The destination side of a live migration: checks the source's machine against this host and
 * this VMM's configuration, and matches this VMM's own devices to the ones the source announced.
 * This VMM decides its host resources (boot-source, drives, network interfaces, configured
 * through its own API); the paths the source recorded are only used with
 * {@code --trust-source-paths} and nothing configured here. Each mismatch is refused naming it.
 */
final class IncomingConfiguration {
    private final VmConfiguration config;

    IncomingConfiguration(VmConfiguration config) {
        this.config = config;
    }

    /** The source's machine fits this host and, when a client configured one here, matches it. */
    void checkMachine(MachineConfig source) {
        var limits = config.validation().limits();
        if (source.cpus() > limits.maxVcpus()) {
            throw refuse("source has " + source.cpus() + " vCPUs, this host's KVM allows " + limits.maxVcpus());
        }
        if (source.memoryBytes() > limits.hostMemoryBytes()) {
            throw refuse("source has " + (source.memoryBytes() >> 20) + " MiB of guest memory, this host has "
                    + (limits.hostMemoryBytes() >> 20) + " MiB");
        }
        MachineConfiguration machine = config.machine();
        long mem = (long) machine.memSizeMib() << 20;
        if (config.machineConfigured() && (source.cpus() != machine.vcpuCount() || source.memoryBytes() != mem)) {
            throw refuse("source has " + source.cpus() + " vCPUs and " + (source.memoryBytes() >> 20)
                    + " MiB, this VM is configured with " + machine.vcpuCount() + " vCPUs and " + machine.memSizeMib()
                    + " MiB");
        }
    }

    /**
     * This VMM's configuration for a VM the source describes, in the source's PCI slot order, or
     * null when it has none and trusts the source's paths. The machine is the source's; the
     * kernel, initrd, boot arguments, disk images and TAP devices are this VMM's. The devices must
     * have the source's shape: the same drives by drive_id (the virtio-blk serial), each with the
     * same read-only flag and size, the same number of network interfaces (in the order they were
     * configured; a guest_mac given here must be the source's, otherwise the source's is taken), no
     * device the API cannot configure.
     */
    VmConfig ownConfiguration(MachineConfig source, VmShape shape, boolean trustSourcePaths) {
        BootSource bootSource = config.bootSource();
        if (!config.hasBootResources()) {
            if (trustSourcePaths) {
                return null;
            }
            throw refuse("this VMM has no configuration of its own for the incoming VM:"
                    + " give it its boot-source, drives and network-interfaces through the API before the source connects"
                    + " (or start it with --trust-source-paths to use the host paths the source recorded)");
        }
        if (bootSource == null) {
            throw refuse("this VMM has no boot-source (PUT /boot-source): the incoming VM needs this host's kernel");
        }
        if (shape == null) {
            throw refuse("the source did not describe its devices (not a Linux VM this VMM can run)");
        }
        try {
            int mib = (int) Math.min(Integer.MAX_VALUE, source.memoryBytes() >> 20);
            VmConfig base = config.validation().validate(bootSource, MachineConfiguration.DEFAULT.patchedWith(
                    new MachineConfiguration(source.cpus(), mib, null, null, null, null)));
            base = new VmConfig(base.kernel(), base.initrd(), base.cmdline(), source.cpus(), source.memoryBytes(),
                    base.onReboot(), base.nested());
            List<Drive> ordered = matchDrives(shape);
            List<NetworkInterface> interfaces = matchInterfaces(shape);
            if (shape.rng()) {
                throw refuse("the source has a virtio-rng device, which this VMM's API cannot configure");
            }
            if (shape.virtioConsole()) {
                throw refuse("the source's console is virtio-console (hvc0), which this VMM's API cannot configure");
            }
            // On this VMM's transport: a source on the other one is refused by the restore's
            // compatibility check, naming both.
            VmConfig own = GuestDevices.withDevices(base, ordered, interfaces).withVirtioTransport(config.virtioTransport())
                    .withCpuTemplate(config.cpuTemplate());
            List<String> slots = own.devices().disks().stream().map(DiskConfig::id).toList();
            List<String> wanted = shape.disks().stream().map(VmShape.Disk::id).toList();
            if (!slots.equals(wanted)) {
                throw refuse("is_root_device differs: here the drives would be in the PCI slots " + slots
                        + ", on the source they are in " + wanted);
            }
            return own;
        } catch (ApiException | ConfigException e) {
            throw refuse(e.getMessage());
        }
    }

    /** This VMM's drives in the source's slot order, matched by drive_id; every one must match. */
    private List<Drive> matchDrives(VmShape shape) {
        Map<String, Drive> bySerial = new LinkedHashMap<>();
        for (Drive d : config.drives()) {
            bySerial.put(GuestDevices.serial(d.driveId()), d);
        }
        List<Drive> ordered = new ArrayList<>();
        for (int i = 0; i < shape.disks().size(); i++) {
            VmShape.Disk s = shape.disks().get(i);
            if (s.id() == null) {
                throw refuse("the source's disk " + (i + 1) + " has no id, so no drive here can be matched to it");
            }
            Drive d = bySerial.remove(s.id());
            if (d == null) {
                throw refuse("the source has drive '" + s.id() + "', this VMM has no drive with that drive_id (PUT /drives/"
                        + s.id() + ")");
            }
            if (d.readOnly() != s.readOnly()) {
                throw refuse("drive '" + d.driveId() + "' is " + (d.readOnly() ? "read-only" : "writable") + " here and "
                        + (s.readOnly() ? "read-only" : "writable") + " on the source (is_read_only)");
            }
            HostPaths.checkBackingFile("drive " + d.driveId() + " path_on_host", d.pathOnHost(), d.readOnly());
            long size;
            try {
                size = io.jkvm.storage.ImageInfo.virtualSize(Path.of(d.pathOnHost()), d.diskFormat());
            } catch (IOException e) {
                throw refuse("drive '" + d.driveId() + "' path_on_host " + d.pathOnHost() + ": cannot read its size: "
                        + e.getMessage());
            }
            if (size / VirtioBlock.SECTOR != s.sizeBytes() / VirtioBlock.SECTOR) {
                throw refuse("drive '" + d.driveId() + "' (" + d.pathOnHost() + ") has " + size + " bytes, the source's has "
                        + s.sizeBytes());
            }
            ordered.add(d);
        }
        if (!bySerial.isEmpty()) {
            throw refuse("drive '" + bySerial.values().iterator().next().driveId()
                    + "' is configured here, but the source has no such drive");
        }
        return ordered;
    }

    /** This VMM's interfaces, in the order configured, with the source's MACs. */
    private List<NetworkInterface> matchInterfaces(VmShape shape) {
        List<NetworkInterface> nics = config.networkInterfaces();
        if (nics.size() != shape.nics().size()) {
            throw refuse("the source has " + shape.nics().size() + " network interface(s), this VMM has " + nics.size()
                    + " (PUT /network-interfaces/{iface_id})");
        }
        List<NetworkInterface> out = new ArrayList<>();
        int i = 0;
        for (NetworkInterface n : nics) {
            MacAddress mac = shape.nics().get(i++).mac();
            if (n.guestMac() != null && !MacAddress.parse(n.guestMac()).equals(mac)) {
                throw refuse("network interface '" + n.ifaceId() + "' has guest_mac " + n.guestMac().toLowerCase(Locale.ROOT)
                        + " here, the source's interface " + i + " has " + mac);
            }
            out.add(new NetworkInterface(n.ifaceId(), n.hostDevName(), mac.toString(), n.rxRateLimiter(), n.txRateLimiter()));
        }
        return out;
    }

    private static MigrationException refuse(String why) {
        return new MigrationException(why);
    }
}
