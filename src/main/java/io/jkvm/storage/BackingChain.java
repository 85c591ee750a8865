package io.jkvm.storage;

import java.io.IOException;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Opens a qcow2 image and its backing chain under a {@link BackingPolicy}. A backing file name
 * comes from the image, which the guest may have written, so it is treated as an attack until
 * shown otherwise: it must carry a backing format (no probing), its real path must lie under an
 * allowed directory, the chain must not loop, and it may be at most the policy's depth. Backing
 * images are opened read-only with shared locks.
 */
final class BackingChain {
    private BackingChain() {}

    static Qcow2Image openTop(Path path, boolean readOnly, BackingPolicy policy) throws IOException {
        List<Path> dirs = allowedDirs(policy, path);
        Set<Path> seen = new HashSet<>();
        try {
            seen.add(path.toRealPath());
        } catch (IOException missing) {
            // LockedFile.open reports it
        }
        return openQcow2(LockedFile.open(path, readOnly), readOnly, policy, dirs, 0, seen);
    }

    /**
     * The real paths of the directories {@code policy} lets the chain of {@code top} take backing
     * files from; {@link #resolve} compares real paths, so a link cannot lead out of them.
     */
    private static List<Path> allowedDirs(BackingPolicy policy, Path top) {
        List<Path> dirs = new ArrayList<>();
        for (Path d : policy.dirsFor(top)) {
            try {
                dirs.add(d.toRealPath());
            } catch (IOException missing) {
                // a directory that does not exist allows nothing
            }
        }
        return dirs;
    }

    /** Reads the header of the open {@code f} (closed on failure) and opens its backing chain. */
    private static Qcow2Image openQcow2(LockedFile f, boolean readOnly, BackingPolicy policy, List<Path> dirs, int depth,
            Set<Path> seen) throws IOException {
        Path path = f.path();
        try {
            Qcow2Header h = Qcow2Header.read(f, !readOnly);
            DiskImage backing = h.backingFile() == null ? null : openBacking(path, h, policy, dirs, depth + 1, seen);
            return Qcow2Image.open(f, h, backing);
        } catch (IOException | RuntimeException e) {
            f.close();
            throw e;
        }
    }

    private static DiskImage openBacking(Path namedBy, Qcow2Header h, BackingPolicy policy, List<Path> dirs, int depth,
            Set<Path> seen) throws IOException {
        Link link = resolve(namedBy, h, policy, dirs, depth, seen);
        return switch (link.format()) {
            // Opened by the checked real path, and checked again after the open: see LockedFile.openChecked.
            case RAW -> RawImage.openChecked(link.real());
            case QCOW2 -> openQcow2(LockedFile.openChecked(link.real(), true), true, policy, dirs, depth, seen);
        };
    }

    /** A backing file as {@link #resolve} accepted it. */
    private record Link(Path real, DiskFormat format) {}

    /**
     * The backing files of the qcow2 image {@code top}, nearest first, as {@link #openTop} would
     * open them, read without taking locks: for the rules a confined VMM needs before it opens
     * the chain (another VMM may hold the images' locks then, during a migration).
     */
    static List<Path> files(Path top, BackingPolicy policy) throws IOException {
        List<Path> dirs = allowedDirs(policy, top);
        Set<Path> seen = new HashSet<>();
        seen.add(top.toRealPath());
        List<Path> out = new ArrayList<>();
        Path at = top;
        for (int depth = 1; ; depth++) {
            Qcow2Header h;
            try (LockedFile f = LockedFile.open(at, true, false)) {
                h = Qcow2Header.read(f, false);
            }
            if (h.backingFile() == null) {
                return out;
            }
            Link link = resolve(at, h, policy, dirs, depth, seen);
            out.add(link.real());
            if (link.format() == DiskFormat.RAW) {
                return out;
            }
            at = link.real();
        }
    }

    private static Link resolve(Path namedBy, Qcow2Header h, BackingPolicy policy, List<Path> dirs, int depth,
            Set<Path> seen) throws IOException {
        String name = h.backingFile();
        String what = "qcow2 image " + namedBy + " names backing file '" + name + "'";
        if (!policy.follow()) {
            throw new IOException(what + ", and backing files are not allowed for this disk");
        }
        if (depth > policy.maxDepth()) {
            throw new IOException(what + " at depth " + depth + ": the backing chain is deeper than "
                    + policy.maxDepth());
        }
        if (name.startsWith("json:") || name.contains("://")) {
            throw new IOException(what + ": only plain file names are supported as backing files");
        }
        if (h.backingFormat() == null) {
            // No probing: a raw backing file's contents could pass for any format.
            throw new IOException(what + " without a backing format; set it with 'qemu-img rebase -u -b " + name
                    + " -F raw|qcow2 " + namedBy + "'");
        }
        DiskFormat format;
        try {
            format = DiskFormat.parse("backing format", h.backingFormat());
        } catch (RuntimeException e) {
            throw new IOException(what + " of format '" + h.backingFormat() + "': only raw and qcow2 are supported");
        }
        Path real;
        try {
            Path p = Path.of(name);
            if (!p.isAbsolute()) {
                // qemu resolves relative names against the directory of the image naming them.
                Path parent = namedBy.toAbsolutePath().getParent();
                p = parent == null ? p : parent.resolve(p);
            }
            real = p.toRealPath();
        } catch (InvalidPathException e) {
            throw new IOException(what + ", which is not a valid path");
        } catch (NoSuchFileException e) {
            throw new IOException(what + ", which does not exist");
        }
        boolean allowed = false;
        for (Path d : dirs) {
            allowed |= real.startsWith(d);
        }
        if (!allowed) {
            throw new IOException(what + " (" + real + "), which is outside the directories backing files may be in "
                    + dirs + "; refused");
        }
        if (!seen.add(real)) {
            throw new IOException(what + " (" + real + "), which is already in the chain: a loop");
        }
        return new Link(real, format);
    }
}
