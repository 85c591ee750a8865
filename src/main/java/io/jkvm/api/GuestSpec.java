package io.jkvm.api;

import io.jkvm.config.VmConfig;

import java.util.List;

/** Everything needed to boot a guest, validated: the machine and boot settings plus its devices. */
public record GuestSpec(VmConfig config, List<Drive> drives, List<NetworkInterface> networkInterfaces) {
    public GuestSpec {
        drives = List.copyOf(drives);
        networkInterfaces = List.copyOf(networkInterfaces);
    }
}
