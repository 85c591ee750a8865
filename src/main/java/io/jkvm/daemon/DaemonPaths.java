package io.jkvm.daemon;

import java.nio.file.Path;

/**
 * Where the daemon keeps its state and socket unless told otherwise, shared by {@code jkvm daemon}
 * and {@code jkvm vm}: {@code $JKVM_STATE_DIR}, else /var/lib/jkvm for root and
 * ~/.local/state/jkvm for others; the socket is {@code $JKVM_DAEMON_SOCKET}, else
 * {@code daemon.sock} in the state directory.
 */
public final class DaemonPaths {
    private DaemonPaths() {}

    public static Path defaultStateDir() {
        String env = System.getenv("JKVM_STATE_DIR");
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        if ("root".equals(System.getProperty("user.name"))) {
            return Path.of("/var/lib/jkvm");
        }
        return Path.of(System.getProperty("user.home"), ".local", "state", "jkvm");
    }

    public static Path defaultSocket() {
        String env = System.getenv("JKVM_DAEMON_SOCKET");
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        return defaultStateDir().resolve("daemon.sock");
    }
}
