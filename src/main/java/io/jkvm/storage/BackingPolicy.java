package io.jkvm.storage;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * Which backing files a qcow2 image may name. An image's header is data the guest (or whoever
 * handed us the image) controls: an overlay naming {@code /etc/shadow} as its raw backing file
 * would show that file to the guest. So backing files are followed only when {@code follow} is
 * set, and only when the backing file's real path ({@link Path#toRealPath}, so symbolic links and
 * {@code ..} cannot escape) lies under one of {@code allowedDirs}; an empty list means the
 * directory of the top image, the default. Relative names resolve against the directory of the
 * image naming them, as qemu resolves them. At most {@code maxDepth} backing files are opened
 * under one top image.
 */
public record BackingPolicy(boolean follow, List<Path> allowedDirs, int maxDepth) {
    public static final int DEFAULT_MAX_DEPTH = 16;

    /** Backing files allowed in the top image's directory only (the default). */
    public static final BackingPolicy TOP_DIRECTORY = new BackingPolicy(true, List.of(), DEFAULT_MAX_DEPTH);

    /** No backing files: an image naming one is refused. */
    public static final BackingPolicy NONE = new BackingPolicy(false, List.of(), 0);

    public BackingPolicy {
        allowedDirs = List.copyOf(Objects.requireNonNull(allowedDirs, "allowedDirs"));
        if (maxDepth < 0 || maxDepth > 64) {
            throw new IllegalArgumentException("maxDepth must be 0..64, not " + maxDepth);
        }
    }

    /** Backing files allowed under {@code dirs}. */
    public static BackingPolicy under(List<Path> dirs) {
        return new BackingPolicy(true, dirs, DEFAULT_MAX_DEPTH);
    }

    /** The directories (as given) backing files of the image at {@code top} may live under. */
    List<Path> dirsFor(Path top) {
        if (!allowedDirs.isEmpty()) {
            return allowedDirs;
        }
        Path parent = top.toAbsolutePath().getParent();
        return parent == null ? List.of() : List.of(parent);
    }
}
