package io.jkvm.api;

import io.jkvm.config.VmConfig;

import java.util.List;

/**
 * Everything needed to boot a guest, validated: the machine and boot settings plus its devices.
 *
 * @param trackDirtyPages Firecracker's machine-config {@code track_dirty_pages}: KVM dirty logging
 *        from boot on, so Diff snapshots can be taken
 * @param serialOutPath Firecracker's {@code serial_out_path}: the console output goes there instead
 *        of the VMM's stdout (null: stdout)
 * @param ramBacking machine-config {@code huge_pages}: what backs guest RAM
 * @param mmds the metadata service's address and the interfaces that answer for it (null: none)
 */
public record GuestSpec(VmConfig config, List<Drive> drives, List<NetworkInterface> networkInterfaces,
        boolean trackDirtyPages, java.nio.file.Path serialOutPath, io.jkvm.memory.RamBacking ramBacking,
        io.jkvm.mmds.MmdsBinding mmds) {
    public GuestSpec {
        drives = List.copyOf(drives);
        networkInterfaces = List.copyOf(networkInterfaces);
    }

    public GuestSpec(VmConfig config, List<Drive> drives, List<NetworkInterface> networkInterfaces) {
        this(config, drives, networkInterfaces, false, null, io.jkvm.memory.RamBacking.PAGES, null);
    }
}
