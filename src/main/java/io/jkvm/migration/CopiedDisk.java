package io.jkvm.migration;

import io.jkvm.storage.DirtyChunks;
import io.jkvm.storage.DiskImage;

/**
 * A disk whose contents a live migration with storage copies to the destination: its index among
 * the VM's disks (as {@link VmShape} lists them), the image its device serves, and the log of the
 * chunks the guest has written since they were last collected. {@code size} is the part the guest
 * can address: whole sectors.
 */
public record CopiedDisk(int index, String id, DiskImage image, DirtyChunks writes) {
    public CopiedDisk {
        if (index < 0 || index >= VmShape.MAX_DEVICES) {
            throw new IllegalArgumentException("disk index " + index + " outside 0.." + (VmShape.MAX_DEVICES - 1));
        }
    }

    /** The guest-addressable bytes: the image's size in whole sectors. */
    public static long size(DiskImage image) {
        return image.size() / Wire.SECTOR * Wire.SECTOR;
    }

    long size() {
        return size(image);
    }
}
