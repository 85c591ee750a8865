package io.jkvm.migration;

import io.jkvm.storage.DiskConfig;
import io.jkvm.storage.DiskImage;
import io.jkvm.storage.DiskImages;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The destination's side of a storage migration: this VMM's own images for the disks the source
 * copies (the paths its operator chose, never the source's), opened and locked when the source's
 * CONFIG arrives, written as BLOCKS arrive, made durable and closed at DONE so the received VM's
 * devices open them as their own. Formats are the destination's: a raw source can land in qcow2.
 */
public final class ReceivedDisks implements AutoCloseable {
    /**
     * Received bytes made durable at the latest after this many more, and at every ROUND: what
     * is left for the fsync at DONE, inside the downtime, is the last round's, not the disk.
     */
    static final long FLUSH_EVERY_BYTES = 256L << 20;

    private final Map<Integer, DiskImage> images = new LinkedHashMap<>();
    private long unflushed;
    /** Something was written or zeroed since the last flush: a ROUND with nothing new costs no fsync. */
    private boolean dirty;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment buffer = arena.allocate(Wire.MAX_BLOCK_BYTES);

    private ReceivedDisks() {}

    /**
     * Opens {@code disks.get(i)} for each copied index {@code i} ({@code disks}: this VMM's disks
     * in the source's order, their sizes already matched to the source's). A read-only disk or an
     * image that cannot be opened or locked is refused with a MigrationException naming it.
     */
    public static ReceivedDisks open(List<DiskConfig> disks, List<Integer> copied) {
        ReceivedDisks r = new ReceivedDisks();
        try {
            for (int i : copied) {
                if (i >= disks.size()) {
                    throw new MigrationException("the source copies disk " + (i + 1) + ", this VMM has " + disks.size());
                }
                DiskConfig d = disks.get(i);
                String name = "drive '" + d.id() + "' (" + d.path() + ")";
                if (d.readOnly()) {
                    throw new MigrationException(name + " is read-only here: the source copies its contents into it");
                }
                DiskImage image;
                try {
                    image = DiskImages.open(d);
                } catch (IOException e) {
                    throw new MigrationException(name + " cannot receive the source's disk: " + e.getMessage());
                }
                r.images.put(i, image);
            }
            return r;
        } catch (RuntimeException e) {
            r.close();
            throw e;
        }
    }

    public void write(int disk, long offset, byte[] data) {
        DiskImage image = image(disk, "BLOCKS");
        try {
            MemorySegment.copy(data, 0, buffer, ValueLayout.JAVA_BYTE, 0, data.length);
            image.write(offset, buffer.asSlice(0, data.length));
        } catch (IOException e) {
            throw new MigrationException("writing the received disk " + image.path() + ": " + e.getMessage(), e);
        }
        unflushed += data.length;
        dirty = true;
        if (unflushed >= FLUSH_EVERY_BYTES) {
            flush();
        }
    }

    /**
     * Makes everything received so far durable (fsync), during pre-copy while the source's guest
     * runs. Nothing received since the last one: nothing to do. Returns whether it synced.
     */
    public boolean flush() {
        if (!dirty) {
            return false;
        }
        for (DiskImage image : images.values()) {
            try {
                image.flush();
            } catch (IOException e) {
                throw new MigrationException("making the received disk " + image.path() + " durable: " + e.getMessage(), e);
            }
        }
        unflushed = 0;
        dirty = false;
        return true;
    }

    public void zero(int disk, long offset, long length) {
        DiskImage image = image(disk, "ZERO_BLOCKS");
        try {
            image.writeZeroes(offset, length, true);
            dirty = true;
        } catch (IOException e) {
            throw new MigrationException("zeroing a range of the received disk " + image.path() + ": " + e.getMessage(), e);
        }
    }

    /**
     * fsync every received image, then close them: the VM's devices open (and lock) them next.
     * Between the two the images are unlocked for a moment; they are this VMM's own drives.
     */
    public void finish() {
        try {
            flush();
        } finally {
            close();
        }
    }

    private DiskImage image(int disk, String record) {
        DiskImage image = images.get(disk);
        if (image == null) {
            throw new MigrationException(record + " record: disk " + disk + " was not announced as copied");
        }
        return image;
    }

    @Override
    public void close() {
        for (DiskImage image : images.values()) {
            image.close();
        }
        images.clear();
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
