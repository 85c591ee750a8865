package io.jkvm.api;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.Set;

/**
 * Which file systems can hold a Unix socket a client can connect to. On some, binding succeeds
 * but connecting fails with ENXIO ("No such device or address"): 9p (QEMU's virtfs, the lab's
 * shares of the host's /tmp and project directory) looks the file up anew on every access, so
 * the kernel never finds the listening socket behind it. jkvm refuses such a directory up front,
 * naming the file system, instead of creating a socket nobody can reach.
 */
public final class SocketFileSystems {
    /** File system types (as /proc/mounts names them) whose socket files cannot be connected to. */
    static final Set<String> UNUSABLE = Set.of("9p", "vboxsf", "prl_fs");

    private SocketFileSystems() {}

    /** The type of the file system holding {@code dir}, if it can be told. */
    static Optional<String> typeOf(Path dir) {
        try {
            return Optional.of(Files.getFileStore(dir).type());
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    /** Throws if {@code socket}'s directory is on a file system that cannot hold sockets. */
    public static void requireSocketCapable(Path socket) throws IOException {
        Path dir = socket.toAbsolutePath().getParent();
        if (dir == null) {
            return;
        }
        Optional<String> type = typeOf(dir);
        if (type.isPresent() && UNUSABLE.contains(type.get())) {
            throw new IOException(unusable(socket, dir, type.get()));
        }
    }

    /** The message for a socket whose file system turned out not to hold sockets (after the fact). */
    static String unusable(Path socket, Path dir, String type) {
        return "cannot serve a Unix socket at " + socket + ": " + dir + " is on a " + type + " file system, which cannot"
                + " hold sockets (clients would get \"No such device or address\"); put the socket on a local file system"
                + " such as /run, /dev/shm or a local /tmp";
    }

    /** After binding: a socket clients cannot reach is reported with the file system's name. */
    static void requireReachable(Path socket) throws IOException {
        if (UdsHttpServer.listening(socket)) {
            return;
        }
        Path dir = socket.toAbsolutePath().getParent();
        String type = dir == null ? "unknown" : typeOf(dir).orElse("unknown");
        throw new IOException(unusable(socket, dir, type));
    }
}
