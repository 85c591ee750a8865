package io.jkvm.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.jkvm.api.Json;
import io.jkvm.api.UdsHttpClient;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;

/**
 * The CLI's side of the daemon API: one request, and the daemon's answer turned into an exit
 * status scripts can rely on (see {@link VmCommand}).
 */
final class DaemonClient implements AutoCloseable {
    static final int EXIT_NOT_FOUND = 3;
    static final int EXIT_WRONG_STATE = 4;
    static final int EXIT_NO_DAEMON = 5;
    /** How long the CLI waits for quick requests (list, show, pause, ...). */
    static final Duration QUICK = Duration.ofSeconds(60);
    /**
     * How long it waits for a VM start, restore or snapshot: the daemon bounds each step of
     * those itself (the VMM's spawn, each API call), and in the lab a start alone took 38 s.
     */
    static final Duration LONG = Duration.ofMinutes(15);

    private final Path socket;
    private final UdsHttpClient http;

    DaemonClient(Path socket) {
        this.socket = socket;
        if (!io.jkvm.api.UdsHttpServer.listening(socket)) {
            throw new ExitCodeError(EXIT_NO_DAEMON, "cannot reach the jkvm daemon at " + socket
                    + " (is `jkvm daemon` running? --socket or JKVM_DAEMON_SOCKET select another)");
        }
        try {
            this.http = new UdsHttpClient(socket);
        } catch (IOException e) {
            throw new ExitCodeError(EXIT_NO_DAEMON, e.getMessage());
        }
    }

    /** Sends a quick request ({@link #QUICK}); returns the body of a 2xx, or throws with the matching exit status. */
    String call(String method, String path, String json) {
        return call(method, path, json, QUICK);
    }

    /**
     * Sends the request and waits up to {@code limit} for the answer; returns the body of a 2xx,
     * or throws with the matching exit status. Running out of time is not reported as a failure
     * of the operation: the daemon may still complete it.
     */
    String call(String method, String path, String json, Duration limit) {
        UdsHttpClient.Reply r;
        try {
            r = http.send(method, path, json, limit);
        } catch (IOException e) {
            if (e.getCause() instanceof java.util.concurrent.TimeoutException) {
                throw new ExitCodeError(Cli.EXIT_FAILURE, "the jkvm daemon did not answer " + method + " " + path
                        + " within " + limit.toSeconds() + " s (this command's limit; --wait sets it); it may still be"
                        + " working on it: `jkvm vm list` shows where it is");
            }
            throw new ExitCodeError(EXIT_NO_DAEMON, "the jkvm daemon at " + socket + " did not answer: " + e.getMessage());
        }
        if (r.ok()) {
            return r.body();
        }
        String msg = r.body();
        try {
            msg = Json.MAPPER.readTree(r.body()).path("fault_message").asText(r.body());
        } catch (IOException e) {
            // keep the raw body
        }
        int code = switch (r.status()) {
            case 404 -> EXIT_NOT_FOUND;
            case 409 -> EXIT_WRONG_STATE;
            case 400, 405, 413 -> Cli.EXIT_USAGE;
            default -> Cli.EXIT_FAILURE;
        };
        throw new ExitCodeError(code, msg);
    }

    JsonNode callJson(String method, String path, String json) {
        return callJson(method, path, json, QUICK);
    }

    JsonNode callJson(String method, String path, String json, Duration limit) {
        try {
            return Json.MAPPER.readTree(call(method, path, json, limit));
        } catch (IOException e) {
            throw new ExitCodeError(Cli.EXIT_FAILURE, "unreadable answer from the daemon: " + e.getMessage());
        }
    }

    @Override
    public void close() {
        http.close();
    }
}
