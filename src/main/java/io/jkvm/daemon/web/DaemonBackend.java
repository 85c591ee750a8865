package io.jkvm.daemon.web;

import io.jkvm.daemon.Daemon;
import io.jkvm.daemon.DaemonException;
import io.jkvm.daemon.VmStatus;

import java.nio.file.Path;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.List;

/** {@link WebBackend} on the daemon's own operations (those of its HTTP API, nothing more). */
public final class DaemonBackend implements WebBackend {
    private static final Duration STOP_TIMEOUT = Duration.ofSeconds(10);
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss-SSS").withZone(ZoneOffset.UTC);

    private final Daemon daemon;

    public DaemonBackend(Daemon daemon) {
        this.daemon = daemon;
    }

    @Override
    public List<VmStatus> list() {
        return daemon.list();
    }

    @Override
    public VmStatus status(String name) {
        daemon.get(name); // 404 for no such VM
        return daemon.list().stream().filter(v -> v.name().equals(name)).findFirst()
                .orElseThrow(() -> DaemonException.notFound(name));
    }

    /**
     * The snapshot button saves into STATE_DIR/snapshots/NAME/TIMESTAMP (a page has no business
     * choosing host paths); {@code jkvm vm restore NAME --dir ...} restores it.
     */
    @Override
    public VmStatus act(String name, String action) {
        return switch (action) {
            case "start" -> daemon.start(name);
            case "stop" -> daemon.stop(name, STOP_TIMEOUT);
            case "pause" -> daemon.pause(name);
            case "resume" -> daemon.resume(name);
            case "snapshot" -> daemon.snapshot(name, daemon.store().root().resolve("snapshots").resolve(name)
                    .resolve(STAMP.format(java.time.Instant.now())), false);
            default -> throw DaemonException.badRequest("no such action '" + action + "' (" + String.join(", ", ACTIONS) + ")");
        };
    }

    @Override
    public Path consoleSocket(String name) {
        daemon.get(name);
        return daemon.store().consoleSocket(name);
    }

    @Override
    public Path vncSocket(String name) {
        daemon.get(name);
        return daemon.store().vncSocket(name);
    }
}
