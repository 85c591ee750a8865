package io.jkvm.daemon.web;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jkvm.api.Json;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Headless Chromium (the Debian package) driven through the Chrome DevTools Protocol over a
 * WebSocket (java.net.http): enough to load pages, run expressions in them, type keys and take
 * screenshots. No browser-automation library: the protocol's JSON messages are few and stable.
 */
final class Chromium implements AutoCloseable {
    private final Process process;
    private final Path profile;
    private final WebSocket ws;
    private final AtomicInteger ids = new AtomicInteger();
    private final Map<Integer, CompletableFuture<JsonNode>> pending = new ConcurrentHashMap<>();
    final List<String> console = new java.util.concurrent.CopyOnWriteArrayList<>();

    /** The browser binary, or null when it is not installed (bin/setup-host installs it). */
    static Path binary() {
        for (String p : List.of("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")) {
            if (Files.isExecutable(Path.of(p))) {
                return Path.of(p);
            }
        }
        return null;
    }

    Chromium(Path profile) throws Exception {
        this.profile = profile;
        Files.createDirectories(profile);
        List<String> cmd = new java.util.ArrayList<>(List.of(binary().toString(), "--headless=new", "--disable-gpu",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                "--disable-sync", "--window-size=1400,900", "--remote-debugging-port=0", "--user-data-dir=" + profile));
        if ("root".equals(System.getProperty("user.name"))) {
            cmd.add("--no-sandbox"); // Chromium refuses to run as root with its sandbox
        }
        cmd.add("about:blank");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectOutput(profile.resolveSibling("chromium.log").toFile());
        // Chromium binds its profile's singleton socket in TMPDIR: the JVM's temporary directory
        // can hold sockets (in the lab it is on tmpfs; the lab's /tmp is 9p, which cannot).
        pb.environment().put("TMPDIR", System.getProperty("java.io.tmpdir"));
        process = pb.start();
        Path portFile = profile.resolve("DevToolsActivePort");
        // A hang detector scaled to this machine (Chromium takes ~25 s to start in the lab's emulated CPU).
        long deadline = System.nanoTime() + io.jkvm.testing.Patience.seconds(60).toNanos();
        while (!Files.exists(portFile) || Files.readAllLines(portFile).size() < 2) {
            if (!process.isAlive() || System.nanoTime() > deadline) {
                Path log = profile.resolveSibling("chromium.log");
                List<String> lines = Files.exists(log) ? Files.readAllLines(log) : List.of();
                throw new IllegalStateException("chromium did not start (" + (process.isAlive() ? "no DevTools port yet"
                        : "exited with status " + process.exitValue()) + "); its log ends: "
                        + String.join(" | ", lines.subList(Math.max(0, lines.size() - 5), lines.size())));
            }
            Thread.sleep(50);
        }
        int port = Integer.parseInt(Files.readAllLines(portFile).get(0).strip());
        HttpClient http = HttpClient.newHttpClient();
        JsonNode targets = Json.MAPPER.readTree(http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/json/list")).build(),
                HttpResponse.BodyHandlers.ofString()).body());
        String page = null;
        for (JsonNode t : targets) {
            if (t.path("type").asText().equals("page")) {
                page = t.path("webSocketDebuggerUrl").asText();
            }
        }
        if (page == null) {
            throw new IllegalStateException("chromium has no page target: " + targets);
        }
        ws = http.newWebSocketBuilder().buildAsync(URI.create(page), new WebSocket.Listener() {
            private final StringBuilder text = new StringBuilder();

            @Override
            public CompletionStage<?> onText(WebSocket w, CharSequence data, boolean last) {
                text.append(data);
                if (last) {
                    dispatch(text.toString());
                    text.setLength(0);
                }
                w.request(1);
                return null;
            }
        }).get(30, TimeUnit.SECONDS);
        call("Page.enable", Map.of());
        call("Runtime.enable", Map.of());
        call("Log.enable", Map.of()); // where Content-Security-Policy violations are reported
    }

    private void dispatch(String message) {
        try {
            JsonNode m = Json.MAPPER.readTree(message);
            if (m.has("id")) {
                CompletableFuture<JsonNode> f = pending.remove(m.path("id").asInt());
                if (f != null) {
                    if (m.has("error")) {
                        f.completeExceptionally(new IllegalStateException("CDP error: " + m.path("error")));
                    } else {
                        f.complete(m.path("result"));
                    }
                }
            } else if (m.path("method").asText().equals("Runtime.consoleAPICalled")) {
                console.add(m.path("params").path("args").toString());
            } else if (m.path("method").asText().equals("Log.entryAdded")) {
                console.add("log: " + m.path("params").path("entry").path("text").asText());
            } else if (m.path("method").asText().equals("Runtime.exceptionThrown")) {
                console.add("exception: " + m.path("params").path("exceptionDetails").toString());
            }
        } catch (IOException e) {
            // not JSON: ignore
        }
    }

    JsonNode call(String method, Map<String, ?> params) throws Exception {
        int id = ids.incrementAndGet();
        CompletableFuture<JsonNode> f = new CompletableFuture<>();
        pending.put(id, f);
        ObjectNode msg = Json.MAPPER.createObjectNode();
        msg.put("id", id);
        msg.put("method", method);
        msg.set("params", Json.MAPPER.valueToTree(params));
        ws.sendText(msg.toString(), true).get(30, TimeUnit.SECONDS);
        return f.get(60, TimeUnit.SECONDS);
    }

    void navigate(String url) throws Exception {
        call("Page.navigate", Map.of("url", url));
    }

    /** The value of a JavaScript expression in the page (promises awaited). */
    JsonNode eval(String expression) throws Exception {
        JsonNode r = call("Runtime.evaluate", Map.of("expression", expression, "returnByValue", true, "awaitPromise", true));
        if (r.has("exceptionDetails")) {
            throw new IllegalStateException("page threw: " + r.path("exceptionDetails"));
        }
        return r.path("result").path("value");
    }

    /** Waits until {@code expression} is true in the page; fails naming {@code what} and the page's last state. */
    void await(String what, String expression, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            JsonNode v;
            try {
                v = eval(expression);
            } catch (IllegalStateException e) {
                v = null; // the page is between documents
            }
            if (v != null && v.asBoolean()) {
                return;
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what + "; page " + eval("location.href + ' ' + document.body.innerText.slice(0, 2000)")
                        + "; console " + console);
            }
            Thread.sleep(50);
        }
    }

    /** Types {@code text} as key presses into the focused element (Enter for '\r'). */
    void type(String text) throws Exception {
        for (char c : text.toCharArray()) {
            if (c == '\r') {
                call("Input.dispatchKeyEvent", Map.of("type", "keyDown", "key", "Enter", "code", "Enter",
                        "windowsVirtualKeyCode", 13, "text", "\r"));
                call("Input.dispatchKeyEvent", Map.of("type", "keyUp", "key", "Enter", "code", "Enter", "windowsVirtualKeyCode", 13));
            } else {
                String s = String.valueOf(c);
                call("Input.dispatchKeyEvent", Map.of("type", "keyDown", "key", s, "text", s, "unmodifiedText", s));
                call("Input.dispatchKeyEvent", Map.of("type", "keyUp", "key", s));
            }
        }
    }

    void screenshot(Path file) throws Exception {
        JsonNode r = call("Page.captureScreenshot", Map.of("format", "png"));
        Files.createDirectories(file.getParent());
        Files.write(file, Base64.getDecoder().decode(r.path("data").asText()));
    }

    @Override
    public void close() {
        if (ws != null) {
            ws.abort();
        }
        // Every process of this browser: Chromium's helpers (zygote, renderers, network service,
        // crashpad) outlive a killed parent for a moment and go on writing into the profile (its
        // disk cache), which the test's temporary directory holds; its deletion then fails.
        // Taken before the kill (orphans are re-parented), and by the profile on their command
        // line, for a helper that was never a descendant or already left the tree.
        String mine = "--user-data-dir=" + profile;
        List<ProcessHandle> tree = new java.util.ArrayList<>(process.descendants().toList());
        ProcessHandle.allProcesses()
                .filter(p -> p.info().arguments().map(a -> java.util.Arrays.asList(a).contains(mine)).orElse(false))
                .filter(p -> !tree.contains(p))
                .forEach(tree::add);
        tree.add(process.toHandle());
        tree.forEach(ProcessHandle::destroyForcibly);
        for (ProcessHandle p : tree) {
            try {
                p.onExit().get(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                // gone or stuck: the directory's deletion will say which
            }
        }
    }
}
