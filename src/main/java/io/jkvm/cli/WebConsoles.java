package io.jkvm.cli;

import io.jkvm.api.EventLog;
import io.jkvm.daemon.Daemon;
import io.jkvm.daemon.StateStore;
import io.jkvm.daemon.web.DaemonBackend;
import io.jkvm.daemon.web.HttpAddress;
import io.jkvm.daemon.web.WebConsole;
import io.jkvm.daemon.web.WebConsoleFile;
import io.jkvm.daemon.web.WebTokens;

import java.io.IOException;
import java.nio.file.Path;

/** {@code jkvm daemon --http}: starts the web console with a fresh token, and records it for {@code jkvm vm console-url}. */
final class WebConsoles {
    private WebConsoles() {}

    static WebConsole start(HttpAddress address, Daemon daemon, StateStore store, Path assets, EventLog log) throws IOException {
        WebTokens tokens = WebTokens.generate();
        WebConsole web = WebConsole.start(address, new DaemonBackend(daemon), tokens, assets != null ? assets : defaultAssets(), log);
        try {
            new WebConsoleFile(web.url(), tokens.adminToken(), ProcessHandle.current().pid()).write(store.root());
        } catch (IOException e) {
            web.close();
            throw new IOException("cannot write " + WebConsoleFile.in(store.root()) + ": " + e.getMessage(), e);
        }
        log.info("web_console_listening", "url", web.url(), "token_file", WebConsoleFile.in(store.root()),
                "note", "jkvm vm console-url [NAME] prints a login link");
        return web;
    }

    /** build/web in the jkvm directory ($JKVM_HOME, set by bin/jkvm; the jkvm.home property in tests). */
    static Path defaultAssets() {
        String home = System.getenv("JKVM_HOME");
        if (home == null || home.isBlank()) {
            home = System.getProperty("jkvm.home", ".");
        }
        return Path.of(home, "build", "web");
    }
}
