package io.jkvm.storage;

/**
 * A disk whose writes are logged, so a live migration with storage can copy it while the guest
 * runs: its index among the VM's disks (PCI slot order), its id (the virtio-blk serial), the image
 * its device serves, and the log of the chunks written since they were last collected.
 */
public record LoggedDisk(int index, String id, DiskImage image, DirtyChunks writes) {
    /** Bytes of a sector: what the guest addresses a disk in. */
    public static final int SECTOR = 512;

    public LoggedDisk {
        if (index < 0) {
            throw new IllegalArgumentException("disk index " + index + " is negative");
        }
    }

    /** The guest-addressable bytes of {@code image}: its size in whole sectors. */
    public static long guestSize(DiskImage image) {
        return image.size() / SECTOR * SECTOR;
    }

    /** This disk's guest-addressable bytes. */
    public long size() {
        return guestSize(image);
    }
}
