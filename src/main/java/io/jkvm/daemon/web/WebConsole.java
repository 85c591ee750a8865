package io.jkvm.daemon.web;

import io.jkvm.api.EventLog;
import io.jkvm.api.Json;
import io.jkvm.daemon.DaemonException;
import io.jkvm.daemon.VmName;
import io.jkvm.daemon.VmStatus;
import io.jkvm.device.RateLimitedLog;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.eclipse.jetty.websocket.server.ServerWebSocketContainer;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.URLDecoder;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * The daemon's web console ({@code jkvm daemon --http ADDR}): a login page, the VM list with
 * their operations, and a page per VM with its serial console (xterm.js) and screen (noVNC), each
 * over a WebSocket bridged to the VM's Unix socket ({@link SocketBridge}).
 * <pre>
 *   GET  /login                  login page (a token; a link's #token=... fills it in)
 *   POST /login                  token=T (form) → session cookie, 303 to / or /vm/NAME
 *   POST /logout
 *   GET  /                       the VM list (admin), or 303 to the one VM of a VM login
 *   GET  /vm/NAME                the VM's page
 *   GET  /api/vms[/NAME]         JSON status (a VM login sees its VM only)
 *   POST /api/vms/NAME/ACTION    start, stop, pause, resume, snapshot
 *   GET  /ws/NAME/console        WebSocket: the serial console, bytes both ways
 *   GET  /ws/NAME/vnc            WebSocket (subprotocol "binary"): RFB, bytes both ways
 *   GET  /static/F, /assets/P    this console's files; xterm.js and noVNC
 * </pre>
 * Access: every page, call and socket but the login page needs the session cookie (HttpOnly,
 * SameSite=Strict), and one VM's login gets 403 on every other VM. Requests that change something
 * (POSTs) and WebSocket upgrades must come from this console's own origin (the Origin header), so
 * another site open in the same browser can neither act nor read a console; the Host header must
 * name this server (loopback names, unless listening beyond loopback), which defeats DNS
 * rebinding. Every response carries a Content-Security-Policy allowing only this origin's scripts.
 */
public final class WebConsole implements AutoCloseable {
    static final String COOKIE = "jkvm_session";
    /** Bridges per VM (console and display together) and in all. */
    static final int BRIDGES_PER_VM = 8;
    static final int BRIDGES_TOTAL = 64;
    /** Largest WebSocket message from a browser: keystrokes and RFB client messages are small. */
    static final int MAX_MESSAGE = 64 * 1024;
    static final int MAX_FORM = 4096;
    /** How long a login form may take to arrive, all of it. */
    static final Duration LOGIN_BODY_DEADLINE = Duration.ofSeconds(10);
    static final Duration SOCKET_IDLE = Duration.ofHours(1);
    /** Open TCP connections (pages, calls, sockets); beyond it Jetty stops accepting until one closes. */
    static final int MAX_CONNECTIONS = 256;

    private final Server server;
    private final ServerConnector connector;
    private final WebBackend backend;
    private final WebTokens tokens;
    private final Sessions sessions;
    private final StaticFiles files;
    private final BridgeSlots slots;
    private final EventLog log;
    private final RateLimitedLog refusals = new RateLimitedLog(org.slf4j.LoggerFactory.getLogger(WebConsole.class),
            1, 1_000_000_000L, System::nanoTime);
    private final boolean loopbackOnly;
    private final ServerWebSocketContainer ws;
    private final SecureRandom random = new SecureRandom();
    /** VMs with an action under way: one at a time each, so clicks cannot pile up threads behind a slow start. */
    private final Set<String> acting = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private WebConsole(HttpAddress address, WebBackend backend, WebTokens tokens, Path assets, EventLog log,
            BridgeSlots slots) {
        this.backend = backend;
        this.tokens = tokens;
        this.sessions = new Sessions(Clock.systemUTC());
        this.files = new StaticFiles(assets);
        this.slots = slots;
        this.log = log;
        this.loopbackOnly = address.address().isLoopbackAddress();
        QueuedThreadPool pool = new QueuedThreadPool(48, 4);
        pool.setName("web");
        pool.setDaemon(true);
        server = new Server(pool);
        HttpConfiguration hc = new HttpConfiguration();
        hc.setSendServerVersion(false);
        hc.setSendDateHeader(false);
        hc.setRequestHeaderSize(8 * 1024);
        connector = new ServerConnector(server, new HttpConnectionFactory(hc));
        connector.setHost(address.address().getHostAddress());
        connector.setPort(address.port());
        connector.setIdleTimeout(Duration.ofSeconds(30).toMillis());
        server.addConnector(connector);
        // Jetty's own error pages (a malformed request, headers too large): no stack traces.
        org.eclipse.jetty.server.handler.ErrorHandler errors = new org.eclipse.jetty.server.handler.ErrorHandler();
        errors.setShowStacks(false);
        server.setErrorHandler(errors);
        server.addBean(new org.eclipse.jetty.server.ConnectionLimit(MAX_CONNECTIONS, connector));
        ws = ServerWebSocketContainer.ensure(server);
        ws.setMaxBinaryMessageSize(MAX_MESSAGE);
        ws.setMaxTextMessageSize(MAX_MESSAGE);
        ws.setMaxFrameSize(MAX_MESSAGE);
        ws.setIdleTimeout(SOCKET_IDLE);
        ws.setMaxOutgoingFrames(4);
        server.setHandler(new Routes());
    }

    /** Starts serving on {@code address}. */
    public static WebConsole start(HttpAddress address, WebBackend backend, WebTokens tokens, Path assets, EventLog log)
            throws IOException {
        return start(address, backend, tokens, assets, log, new BridgeSlots(BRIDGES_PER_VM, BRIDGES_TOTAL));
    }

    static WebConsole start(HttpAddress address, WebBackend backend, WebTokens tokens, Path assets, EventLog log,
            BridgeSlots slots) throws IOException {
        WebConsole c = new WebConsole(address, backend, tokens, assets, log, slots);
        try {
            c.server.start();
        } catch (Exception e) {
            c.close();
            throw new IOException("cannot listen on " + address.host() + ":" + address.port() + ": " + e.getMessage(), e);
        }
        if (!c.files.assetsPresent()) {
            log.warn("web_assets_missing", "dir", String.valueOf(assets),
                    "note", "the VM pages need xterm.js and noVNC: run bin/web-assets");
        }
        return c;
    }

    public int port() {
        return connector.getLocalPort();
    }

    /** This console's base URL, e.g. {@code http://127.0.0.1:8090/}. */
    public String url() {
        String h = connector.getHost();
        return "http://" + (h.contains(":") ? "[" + h + "]" : h) + ":" + port() + "/";
    }

    @Override
    public void close() {
        try {
            server.stop();
        } catch (Exception e) {
            // stopping anyway
        }
    }

    private final class Routes extends Handler.Abstract {
        @Override
        public boolean handle(Request request, Response response, Callback callback) {
            try {
                route(request, response, callback);
            } catch (DaemonException e) {
                json(response, callback, e.status(), Json.fault(e.getMessage()));
            } catch (RuntimeException | IOException e) {
                log.error("web_internal_error", "path", Request.getPathInContext(request), "error", String.valueOf(e));
                json(response, callback, 500, Json.fault("internal error"));
            }
            return true;
        }
    }

    private void route(Request request, Response response, Callback callback) throws IOException {
        String path = Request.getPathInContext(request);
        String method = request.getMethod();
        String host = request.getHeaders().get(HttpHeader.HOST);
        if (!hostAllowed(host)) {
            text(response, callback, 421, "this server does not answer to Host '" + host + "'");
            return;
        }
        String nonce = Base64.getUrlEncoder().withoutPadding().encodeToString(randomBytes(18));
        securityHeaders(response, host, nonce);
        if (path.equals("/login")) {
            if (method.equals("GET")) {
                page(response, callback, "login.html", nonce);
            } else if (method.equals("POST")) {
                login(request, response, callback, host);
            } else {
                text(response, callback, 405, "GET or POST");
            }
            return;
        }
        if (path.startsWith("/static/") && method.equals("GET")) {
            serve(response, callback, StaticFiles.own(path.substring(8)), false);
            return;
        }
        if (path.startsWith("/assets/") && method.equals("GET")) {
            serve(response, callback, files.asset(path.substring(8)), true);
            return;
        }
        String cookie = cookie(request);
        Optional<Scope> scope = sessions.lookup(cookie);
        if (path.equals("/logout") && method.equals("POST")) {
            if (!sameOrigin(request, host)) {
                text(response, callback, 403, "cross-origin request refused");
                return;
            }
            sessions.remove(cookie);
            response.getHeaders().add(HttpHeader.SET_COOKIE, COOKIE + "=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict");
            redirect(response, callback, "/login");
            return;
        }
        if (scope.isEmpty()) {
            if (path.startsWith("/api/") || path.startsWith("/ws/")) {
                json(response, callback, 401, Json.fault("log in first (POST /login)"));
            } else {
                redirect(response, callback, "/login");
            }
            return;
        }
        Scope s = scope.get();
        String[] parts = path.substring(1).split("/", -1);
        if (path.equals("/") && method.equals("GET")) {
            if (s.admin()) {
                page(response, callback, "index.html", nonce);
            } else {
                redirect(response, callback, "/vm/" + s.vm());
            }
            return;
        }
        if (parts.length == 2 && parts[0].equals("vm") && method.equals("GET")) {
            String name = vmName(parts[1], s);
            backend.status(name); // 404 for no such VM
            page(response, callback, "vm.html", nonce);
            return;
        }
        if (parts.length >= 2 && parts[0].equals("api") && parts[1].equals("vms")) {
            api(request, response, callback, parts, s, host);
            return;
        }
        if (parts.length == 3 && parts[0].equals("ws") && method.equals("GET")) {
            upgrade(request, response, callback, vmName(parts[1], s), parts[2], host);
            return;
        }
        text(response, callback, 404, "no such page");
    }

    /** The VM name in a URL, checked against the login's scope: 403 for another VM's. */
    private static String vmName(String raw, Scope s) {
        String name = URLDecoder.decode(raw, StandardCharsets.UTF_8);
        VmName.require(name);
        if (!s.covers(name)) {
            throw new DaemonException(403, "this login is for VM '" + s.vm() + "' only");
        }
        return name;
    }

    private void api(Request request, Response response, Callback callback, String[] parts, Scope s, String host) {
        String method = request.getMethod();
        if (parts.length == 2 && method.equals("GET")) {
            List<Map<String, Object>> out = new ArrayList<>();
            for (VmStatus v : backend.list()) {
                if (s.covers(v.name())) {
                    out.add(view(v));
                }
            }
            json(response, callback, 200, Json.write(out));
            return;
        }
        if (parts.length == 3 && method.equals("GET")) {
            json(response, callback, 200, Json.write(view(backend.status(vmName(parts[2], s)))));
            return;
        }
        if (parts.length == 4 && method.equals("POST")) {
            if (!sameOrigin(request, host)) {
                json(response, callback, 403, Json.fault("cross-origin request refused"));
                return;
            }
            String name = vmName(parts[2], s);
            String action = parts[3];
            if (!WebBackend.ACTIONS.contains(action)) {
                json(response, callback, 404, Json.fault("no such action '" + action + "' (" + String.join(", ", WebBackend.ACTIONS) + ")"));
                return;
            }
            if (!acting.add(name)) {
                json(response, callback, 409, Json.fault("VM '" + name + "' has an action under way; wait for it to finish"));
                return;
            }
            String done;
            try {
                log.info("web_action", "vm", name, "action", action, "scope", s.admin() ? "admin" : "vm");
                done = Json.write(view(backend.act(name, action)));
            } finally {
                // Before the answer goes out: a client that sends its next action as soon as it
                // reads this one's answer must not find the VM still busy (409).
                acting.remove(name);
            }
            json(response, callback, 200, done);
            return;
        }
        json(response, callback, 404, Json.fault("no such endpoint"));
    }

    /** What pages see of a VM: no host paths. */
    private Map<String, Object> view(VmStatus v) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("name", v.name());
        m.put("state", v.state());
        m.put("pid", v.pid());
        m.put("vcpu_count", v.vcpuCount());
        m.put("mem_size_mib", v.memSizeMib());
        m.put("started_at", v.startedAt());
        m.put("last_exit", v.lastExit());
        m.put("console", Files.exists(backend.consoleSocket(v.name())));
        m.put("display", Files.exists(backend.vncSocket(v.name())));
        return m;
    }

    private void upgrade(Request request, Response response, Callback callback, String name, String kind, String host) {
        Path sock = switch (kind) {
            case "console" -> backend.consoleSocket(name);
            case "vnc" -> backend.vncSocket(name);
            default -> null;
        };
        if (sock == null) {
            text(response, callback, 404, "no such socket (console, vnc)");
            return;
        }
        if (!sameOrigin(request, host)) {
            text(response, callback, 403, "cross-origin WebSocket refused");
            return;
        }
        if (!Files.exists(sock)) {
            text(response, callback, 404, kind.equals("vnc") ? "no display" : "the VM is not running");
            return;
        }
        if (!slots.acquire(name)) {
            text(response, callback, 429, "too many open consoles for VM '" + name + "' (at most " + slots.perVm() + ")");
            return;
        }
        SocketChannel ch;
        try {
            ch = SocketChannel.open(StandardProtocolFamily.UNIX);
            ch.connect(UnixDomainSocketAddress.of(sock));
        } catch (IOException e) {
            slots.release(name);
            text(response, callback, 502, "cannot connect to the VM's " + kind + ": " + e.getMessage());
            return;
        }
        SocketBridge bridge = new SocketBridge(ch, name + " " + kind, () -> slots.release(name));
        boolean upgraded;
        java.util.concurrent.atomic.AtomicBoolean created = new java.util.concurrent.atomic.AtomicBoolean();
        // If the 101 answer cannot be written (the browser reset the connection mid-upgrade), the
        // WebSocket never opens and no bridge event would ever come: free the VM's socket and slot here.
        Callback upgradeDone = new Callback() {
            @Override
            public void succeeded() {
                callback.succeeded();
            }

            @Override
            public void failed(Throwable x) {
                bridge.close(1011, null);
                callback.failed(x);
            }

            @Override
            public InvocationType getInvocationType() {
                return callback.getInvocationType();
            }
        };
        try {
            upgraded = ws.upgrade((req, resp, cb) -> {
                if (kind.equals("vnc") && req.hasSubProtocol("binary")) {
                    resp.setAcceptedSubProtocol("binary");
                }
                created.set(true);
                return bridge;
            }, request, response, upgradeDone);
        } catch (RuntimeException e) {
            log.warn("web_upgrade_failed", "vm", name, "kind", kind, "error", String.valueOf(e));
            upgraded = false;
        }
        if (!upgraded) {
            bridge.close(1011, null);
            text(response, callback, 400, "expected a WebSocket upgrade");
            return;
        }
        if (!created.get()) {
            bridge.close(1011, null); // Jetty refused the handshake itself (and answered it): free the socket and slot
            return;
        }
        log.info("web_socket_opened", "vm", name, "kind", kind);
    }

    private void login(Request request, Response response, Callback callback, String host) throws IOException {
        if (!sameOrigin(request, host)) {
            text(response, callback, 403, "cross-origin login refused");
            return;
        }
        long len = request.getLength();
        if (len < 0 || len > MAX_FORM) {
            text(response, callback, len < 0 ? 411 : 413, "the login form must be at most " + MAX_FORM + " bytes, with a length");
            return;
        }
        // Read without a thread: a client trickling its form a byte at a time (each byte restarting
        // the idle timeout) would otherwise hold a pool thread per connection, and a few dozen
        // such clients would starve the console. The whole form has LOGIN_BODY_DEADLINE to arrive.
        Content.Source.asStringAsync(request, StandardCharsets.UTF_8)
                .orTimeout(LOGIN_BODY_DEADLINE.toMillis(), TimeUnit.MILLISECONDS)
                .whenComplete((body, failure) -> {
                    try {
                        if (failure != null) {
                            text(response, callback, 408, "the login form did not arrive within "
                                    + LOGIN_BODY_DEADLINE.toSeconds() + " s");
                        } else {
                            loginWith(body, request, response, callback);
                        }
                    } catch (RuntimeException e) {
                        callback.failed(e);
                    }
                });
    }

    private void loginWith(String body, Request request, Response response, Callback callback) {
        String token = null;
        for (String kv : body.split("&")) {
            if (kv.startsWith("token=")) {
                try {
                    token = URLDecoder.decode(kv.substring(6), StandardCharsets.UTF_8).strip();
                } catch (IllegalArgumentException e) {
                    token = null; // malformed %-escapes: a wrong token like any other
                }
            }
        }
        Optional<Scope> scope = tokens.check(token);
        if (scope.isEmpty()) {
            // At most one line a second: refused logins are cheap to send, and the log is on disk.
            long unlogged = refusals.acquire();
            if (unlogged >= 0) {
                log.warn("web_login_refused", "remote", String.valueOf(Request.getRemoteAddr(request)),
                        "refusals_not_logged", String.valueOf(unlogged));
            }
            redirect(response, callback, "/login?failed=1");
            return;
        }
        String cookie = sessions.create(scope.get());
        response.getHeaders().add(HttpHeader.SET_COOKIE, COOKIE + "=" + cookie + "; Path=/; HttpOnly; SameSite=Strict");
        log.info("web_login", "scope", scope.get().admin() ? "admin" : "vm " + scope.get().vm());
        redirect(response, callback, scope.get().admin() ? "/" : "/vm/" + scope.get().vm());
    }

    private boolean hostAllowed(String host) {
        if (host == null || host.length() > 300) {
            return false;
        }
        if (!loopbackOnly) {
            return true;
        }
        String port = ":" + port();
        String h = connector.getHost();
        return Set.of("127.0.0.1" + port, "localhost" + port, "[::1]" + port).contains(host.toLowerCase(java.util.Locale.ROOT))
                || host.equals((h.contains(":") ? "[" + h + "]" : h) + port);
    }

    /** Whether the request comes from a page of this console: its Origin is http://HOST. */
    static boolean sameOrigin(Request request, String host) {
        String origin = request.getHeaders().get(HttpHeader.ORIGIN);
        return origin != null && host != null && origin.equals("http://" + host);
    }

    private static String cookie(Request request) {
        List<String> headers = request.getHeaders().getValuesList(HttpHeader.COOKIE);
        for (String h : headers) {
            for (String c : h.split(";")) {
                String t = c.strip();
                if (t.startsWith(COOKIE + "=")) {
                    return t.substring(COOKIE.length() + 1);
                }
            }
        }
        return null;
    }

    private static void securityHeaders(Response response, String host, String nonce) {
        // xterm.js adds <style> elements (given this response's nonce by vm.js) and style
        // attributes (cell colours): hence style-src-attr 'unsafe-inline', which cannot run code.
        response.getHeaders().put("Content-Security-Policy", "default-src 'none'; script-src 'self'; "
                + "style-src 'self' 'nonce-" + nonce + "'; style-src-elem 'self' 'nonce-" + nonce + "'; "
                + "style-src-attr 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self'; "
                + "connect-src 'self' ws://" + host + "; base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
        response.getHeaders().put("X-Content-Type-Options", "nosniff");
        // same-origin, not no-referrer: under no-referrer browsers send "Origin: null" with form
        // POSTs, and the Origin check could not tell this console's login form from another site's.
        response.getHeaders().put("Referrer-Policy", "same-origin");
        response.getHeaders().put("X-Frame-Options", "DENY");
        response.getHeaders().put("Cross-Origin-Opener-Policy", "same-origin");
        response.getHeaders().put("Cross-Origin-Resource-Policy", "same-origin");
    }

    private static void page(Response response, Callback callback, String name, String nonce) {
        StaticFiles.File f = StaticFiles.own(name).orElseThrow(() -> new IllegalStateException("missing page " + name));
        byte[] body = new String(f.bytes(), StandardCharsets.UTF_8).replace("{{nonce}}", nonce).getBytes(StandardCharsets.UTF_8);
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
        send(response, callback, 200, f.contentType(), body);
    }

    private static void serve(Response response, Callback callback, Optional<StaticFiles.File> f, boolean asset) {
        if (f.isEmpty()) {
            text(response, callback, 404, asset ? "no such asset (bin/web-assets fetches them)" : "no such file");
            return;
        }
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-cache");
        send(response, callback, 200, f.get().contentType(), f.get().bytes());
    }

    private static void redirect(Response response, Callback callback, String to) {
        response.getHeaders().put(HttpHeader.LOCATION, to);
        send(response, callback, 303, "text/plain; charset=utf-8", new byte[0]);
    }

    private static void text(Response response, Callback callback, int status, String message) {
        send(response, callback, status, "text/plain; charset=utf-8", (message + "\n").getBytes(StandardCharsets.UTF_8));
    }

    private static void json(Response response, Callback callback, int status, String body) {
        response.getHeaders().put(HttpHeader.CACHE_CONTROL, "no-store");
        send(response, callback, status, "application/json", body.getBytes(StandardCharsets.UTF_8));
    }

    private static void send(Response response, Callback callback, int status, String type, byte[] body) {
        response.setStatus(status);
        Request request = response.getRequest();
        boolean hasBody = request.getLength() > 0 || request.getHeaders().contains(HttpHeader.TRANSFER_ENCODING);
        if (status >= 400 && hasBody) {
            // A refusal may leave the request's body unread (a cross-origin login is refused before
            // its form is read). Jetty then ends the connection after this response, and a client
            // that was not told would send its next request into the closed connection.
            response.getHeaders().put(HttpHeader.CONNECTION, "close");
        }
        response.getHeaders().put(HttpHeader.CONTENT_TYPE, type);
        response.getHeaders().put(HttpHeader.CONTENT_LENGTH, body.length);
        response.write(true, ByteBuffer.wrap(body), callback);
    }

    private byte[] randomBytes(int n) {
        byte[] b = new byte[n];
        random.nextBytes(b);
        return b;
    }
}
