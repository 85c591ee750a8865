package io.jkvm.daemon.web;

import com.fasterxml.jackson.annotation.JsonProperty;
import io.jkvm.api.Json;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

/**
 * STATE_DIR/web-console.json (0600): where the running daemon's web console listens and its admin
 * token, written at each start, for {@code jkvm vm console-url}. Readable by the daemon's user
 * only, like the daemon's socket: whoever can read it could manage every VM anyway.
 */
public record WebConsoleFile(@JsonProperty("url") String url, @JsonProperty("token") String token,
                             @JsonProperty("pid") long pid) {
    public static final String NAME = "web-console.json";

    public static Path in(Path stateDir) {
        return stateDir.resolve(NAME);
    }

    public void write(Path stateDir) throws IOException {
        WebTokens.writePrivate(in(stateDir), Json.write(this) + "\n");
    }

    /** The file's content, or null when there is none (no daemon ever ran with --http here). */
    public static WebConsoleFile read(Path stateDir) throws IOException {
        try {
            return Json.MAPPER.readValue(Files.readAllBytes(in(stateDir)), WebConsoleFile.class);
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    /** The login link for everything (vm null) or one VM: the token after '#', never sent to a server. */
    public String loginUrl(String vm) {
        WebTokens t = WebTokens.fromAdminToken(token);
        return url + "login#token=" + (vm == null ? t.adminToken() : t.vmToken(vm));
    }

    public static void remove(Path stateDir) {
        try {
            Files.deleteIfExists(in(stateDir));
        } catch (IOException e) {
            // a stale file names a dead daemon's token: harmless, and replaced at the next start
        }
    }
}
