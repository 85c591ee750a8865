package io.jkvm.storage;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;

/** Opens a disk image in the format the user stated (never probed: see {@link DiskFormat}). */
public final class DiskImages {
    private static final Logger LOG = LoggerFactory.getLogger(DiskImages.class);

    private DiskImages() {}

    /** Opens the image of {@code cfg}, with backing files in the top image's directory only. */
    public static DiskImage open(DiskConfig cfg) throws IOException {
        return open(cfg.path(), cfg.format(), cfg.readOnly(), BackingPolicy.TOP_DIRECTORY);
    }

    /**
     * The backing files {@link #open(DiskConfig)} will open for {@code cfg}, nearest first (none
     * for a raw disk), read without locks. An image that cannot be read or names a backing file
     * the policy refuses gives none here: opening the disk reports that.
     */
    public static java.util.List<Path> backingFiles(DiskConfig cfg) {
        if (cfg.format() != DiskFormat.QCOW2) {
            return java.util.List.of();
        }
        try {
            return BackingChain.files(cfg.path(), BackingPolicy.TOP_DIRECTORY);
        } catch (IOException | RuntimeException e) {
            return java.util.List.of();
        }
    }

    /** Opens {@code path} as {@code format}, read-only or not; a qcow2 image's backing chain as {@code policy} allows. */
    public static DiskImage open(Path path, DiskFormat format, boolean readOnly, BackingPolicy policy) throws IOException {
        return switch (format) {
            case QCOW2 -> Qcow2Image.open(path, readOnly, policy);
            case RAW -> {
                RawImage raw = RawImage.open(path, readOnly);
                warnIfQcow2(raw);
                yield raw;
            }
        };
    }

    /** A raw image that starts like a qcow2 image is served raw, as asked; the user most likely meant format=qcow2. */
    private static void warnIfQcow2(RawImage raw) {
        if (raw.size() < 4) {
            return;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(4);
            raw.read(0, m);
            if (m.get(ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.BIG_ENDIAN), 0) == Qcow2Header.MAGIC) {
                LOG.warn("disk image {} starts with the qcow2 magic but is treated as raw (as configured); "
                        + "pass format=qcow2 if it is a qcow2 image", raw.path());
            }
        } catch (IOException e) {
            LOG.debug("cannot read the first bytes of {}: {}", raw.path(), e.getMessage());
        }
    }
}
