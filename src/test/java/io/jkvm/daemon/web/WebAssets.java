package io.jkvm.daemon.web;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

/** The web console's fetched scripts for the browser tests: build/web, made by bin/web-assets (a no-op when current). */
final class WebAssets {
    private WebAssets() {}

    static Path ensure() throws Exception {
        Path home = Path.of(System.getProperty("jkvm.home", ".")).toAbsolutePath();
        Process p = new ProcessBuilder(home.resolve("bin/web-assets").toString()).inheritIO().start();
        if (!p.waitFor(10, TimeUnit.MINUTES) || p.exitValue() != 0) {
            throw new AssertionError("bin/web-assets failed: the browser tests need xterm.js and noVNC");
        }
        Path web = home.resolve("build/web");
        if (!Files.isRegularFile(web.resolve("xterm/lib/xterm.mjs"))) {
            throw new AssertionError("bin/web-assets left no " + web.resolve("xterm/lib/xterm.mjs"));
        }
        return web;
    }
}
