package io.jkvm.daemon;

import io.jkvm.api.ApiException;
import io.jkvm.api.EventLog;
import io.jkvm.api.HttpEndpoint;
import io.jkvm.api.HttpReply;
import io.jkvm.api.Json;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;

/**
 * The daemon's HTTP+JSON API (over its Unix socket):
 * <pre>
 *   GET    /                      daemon info
 *   GET    /vms                   list (array of VM status)
 *   POST   /vms                   define {"name": N, "config": {Firecracker config document}}  → 201
 *   GET    /vms/N                 status and definition
 *   POST   /vms/N/start|kill|pause|resume
 *   POST   /vms/N/snapshot        {"dir": D, "encrypt": false}: pause, save D/vm.state + D/vm.mem; stays paused
 *   POST   /vms/N/restore         {"dir": D}: start a stopped VM from the snapshot in D
 *   POST   /vms/N/stop            {"timeout_ms": T} optional: Ctrl+Alt+Del, SIGKILL after T (default 10000)
 *   POST   /vms/N/migrate         the VMM's PUT /migrate body: live-migrate it (202, the first report)
 *   GET    /vms/N/migrate         the migration's report: live while active, the final one after
 *   POST   /vms/N/migrate/cancel  cancel it (the VM runs on here)
 *   DELETE /vms/N[?force=true]    remove (force: kill a running VM first)
 *   GET    /vms/N/log[?bytes=B]   the tail of the serial log (text)
 *   GET    /metrics               Prometheus text format
 * </pre>
 * Errors: 400 bad request, 404 no such VM, 409 wrong state, 413 body too large, 500 the VMM
 * failed; the body is {@code {"fault_message": "..."}}.
 */
public final class DaemonApi implements HttpEndpoint {
    static final Duration DEFAULT_STOP_TIMEOUT = Duration.ofSeconds(10);
    private static final int MAX_LOG_TAIL = 1 << 20;

    private final Daemon daemon;
    private final EventLog log;
    private final LongAdder requests = new LongAdder();

    public DaemonApi(Daemon daemon, EventLog log) {
        this.daemon = daemon;
        this.log = log;
    }

    @Override
    public HttpReply handle(String method, String path, String query, byte[] body) {
        requests.increment();
        long t0 = System.nanoTime();
        HttpReply r;
        try {
            r = route(method, path, query == null ? "" : query, body);
        } catch (DaemonException e) {
            r = HttpReply.json(e.status(), Json.fault(e.getMessage()));
        } catch (ApiException e) {
            r = HttpReply.json(e.status(), Json.fault(e.getMessage()));
        } catch (RuntimeException e) {
            log.error("daemon_internal_error", "method", method, "path", path, "error", String.valueOf(e));
            r = HttpReply.json(500, Json.fault("internal error: " + e));
        }
        log.info("request", "method", method, "path", path, "status", r.status(),
                "ms", (System.nanoTime() - t0) / 1_000_000);
        return r;
    }

    private HttpReply route(String method, String path, String query, byte[] body) {
        String[] parts = path.replaceAll("^/+|/+$", "").split("/");
        if (path.equals("/") || path.isEmpty()) {
            require(method, "GET", path);
            return ok(Map.of("app", "jkvm-daemon", "pid", ProcessHandle.current().pid(),
                    "state_dir", daemon.store().root().toString(), "vms", daemon.list().size()));
        }
        if (parts.length == 1 && parts[0].equals("metrics")) {
            require(method, "GET", path);
            double up = Duration.between(daemon.startedAt(), Instant.now()).toMillis() / 1000.0;
            return new HttpReply(200, "text/plain; version=0.0.4; charset=utf-8",
                    PrometheusText.render(daemon.list(), daemon.vmmMetrics(), requests.sum(), up)
                            .getBytes(StandardCharsets.UTF_8));
        }
        if (!parts[0].equals("vms")) {
            throw new DaemonException(404, "no such endpoint: " + method + " " + path);
        }
        if (parts.length == 1) {
            if (method.equals("GET")) {
                return ok(daemon.list());
            }
            require(method, "POST", path);
            CreateRequest c = Json.parse(body, CreateRequest.class);
            return HttpReply.json(201, Json.write(daemon.create(c.name(), c.config(), c.tuning(), c.virtioTransport(), c.display())));
        }
        String name = parts[1];
        if (parts.length == 2) {
            switch (method) {
                case "GET" -> {
                    ManagedVm vm = daemon.get(name);
                    return ok(Map.of("status", vm.status(), "definition", vm.definition()));
                }
                case "DELETE" -> {
                    daemon.delete(name, query.contains("force=true"));
                    return HttpReply.json(204, null);
                }
                default -> throw badMethod(method, path);
            }
        }
        if (parts.length == 4 && parts[2].equals("migrate") && parts[3].equals("cancel")) {
            require(method, "POST", path);
            return ok(daemon.cancelMigration(name));
        }
        if (parts.length == 3) {
            String action = parts[2];
            if (action.equals("migrate")) {
                if (method.equals("GET")) {
                    return ok(daemon.migration(name));
                }
                require(method, "POST", path);
                if (body == null || body.length == 0) {
                    throw DaemonException.badRequest("missing body {\"destination\": \"tcp:HOST:PORT\", ...}");
                }
                return HttpReply.json(202, Json.write(daemon.migrate(name, Json.parse(body, io.jkvm.api.MigrateRequest.class))));
            }
            if (action.equals("log")) {
                require(method, "GET", path);
                return HttpReply.text(200, tail(daemon.get(name).status().serialLog(), tailBytes(query)));
            }
            require(method, "POST", path);
            return switch (action) {
                case "start" -> ok(daemon.start(name));
                case "stop" -> ok(daemon.stop(name, stopTimeout(body)));
                case "kill" -> ok(daemon.kill(name));
                case "pause" -> ok(daemon.pause(name));
                case "resume" -> ok(daemon.resume(name));
                case "snapshot" -> {
                    SnapshotDirRequest r = snapshotDir(body);
                    yield ok(daemon.snapshot(name, r.path(), Boolean.TRUE.equals(r.encrypt())));
                }
                case "restore" -> ok(daemon.restore(name, snapshotDir(body).path()));
                default -> throw new DaemonException(404, "no such action '" + action
                        + "' (start, stop, kill, pause, resume, snapshot, restore, migrate)");
            };
        }
        throw new DaemonException(404, "no such endpoint: " + method + " " + path);
    }

    private static SnapshotDirRequest snapshotDir(byte[] body) {
        if (body == null || body.length == 0) {
            throw DaemonException.badRequest("missing body {\"dir\": \"/absolute/directory\"}");
        }
        SnapshotDirRequest r = Json.parse(body, SnapshotDirRequest.class);
        r.path(); // validates
        return r;
    }

    private static Duration stopTimeout(byte[] body) {
        if (body == null || body.length == 0) {
            return DEFAULT_STOP_TIMEOUT;
        }
        StopRequest s = Json.parse(body, StopRequest.class);
        if (s.timeoutMs() == null) {
            return DEFAULT_STOP_TIMEOUT;
        }
        if (s.timeoutMs() < 0 || s.timeoutMs() > 3_600_000) {
            throw DaemonException.badRequest("timeout_ms " + s.timeoutMs() + ": must be between 0 and 3600000");
        }
        return Duration.ofMillis(s.timeoutMs());
    }

    private static int tailBytes(String query) {
        for (String kv : query.split("&")) {
            if (kv.startsWith("bytes=")) {
                try {
                    return (int) Math.max(0, Math.min(MAX_LOG_TAIL, Long.parseLong(kv.substring(6))));
                } catch (NumberFormatException e) {
                    throw DaemonException.badRequest("bytes '" + kv.substring(6) + "': not a number");
                }
            }
        }
        return 64 * 1024;
    }

    private static String tail(String file, int bytes) {
        Path p = Path.of(file);
        if (!Files.exists(p)) {
            return "";
        }
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "r")) {
            long start = Math.max(0, f.length() - bytes);
            byte[] buf = new byte[(int) (f.length() - start)];
            f.seek(start);
            f.readFully(buf);
            return new String(buf, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw DaemonException.failed("cannot read " + file + ": " + e.getMessage());
        }
    }

    private static void require(String method, String expected, String path) {
        if (!method.equals(expected)) {
            throw badMethod(method, path);
        }
    }

    private static DaemonException badMethod(String method, String path) {
        return new DaemonException(405, "method " + method + " is not allowed on " + path);
    }

    private static HttpReply ok(Object value) {
        return HttpReply.json(200, Json.write(value));
    }
}
