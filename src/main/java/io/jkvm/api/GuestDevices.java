package io.jkvm.api;

import java.util.ArrayList;
import java.util.List;

/**
 * The seam where configured drives and network interfaces become guest devices. Block and
 * network devices (virtio-blk, virtio-net over virtio-pci) are being written on another branch;
 * until they land, drives and interfaces are validated and kept in the configuration (and in
 * {@code GET /vm/config}) but not attached, and {@link #unattached} says so at boot.
 */
public final class GuestDevices {
    private GuestDevices() {}

    /** One line per configured device that this build cannot attach yet. */
    public static List<String> unattached(GuestSpec spec) {
        List<String> notes = new ArrayList<>();
        for (Drive d : spec.drives()) {
            notes.add("drive " + d.driveId() + " (" + d.pathOnHost() + "): virtio-blk is not available in this build, not attached");
        }
        for (NetworkInterface n : spec.networkInterfaces()) {
            notes.add("network interface " + n.ifaceId() + " (" + n.hostDevName()
                    + "): virtio-net is not available in this build, not attached");
        }
        return notes;
    }
}
