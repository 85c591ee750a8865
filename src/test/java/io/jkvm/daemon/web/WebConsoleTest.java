package io.jkvm.daemon.web;

import io.jkvm.api.EventLog;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The web console's server without a VM: its access rules (login, per-VM tokens, Origin, Host),
 * and its WebSocket bridges against stand-ins for a VM's console and display sockets (a Unix
 * echo server, an RFB greeting).
 */
class WebConsoleTest {
    @TempDir
    Path dir;
    private FakeBackend backend;
    private WebTokens tokens;
    private WebConsole web;
    private WebClient client;
    private BridgeSlots slots;

    @BeforeEach
    void setUp() throws IOException {
        backend = new FakeBackend(dir, "alpha", "beta");
        tokens = WebTokens.generate();
        slots = new BridgeSlots(2, 10);
        web = WebConsole.start(HttpAddress.parse("127.0.0.1:0", false), backend, tokens, dir.resolve("no-assets"),
                EventLog.toStderr("web-test"), slots);
        client = new WebClient(web.port());
    }

    @AfterEach
    void tearDown() {
        web.close();
    }

    @Test
    void everythingButTheLoginPageNeedsALogin() throws Exception {
        HttpResponse<String> root = client.get("/", null);
        assertThat(root.statusCode()).isEqualTo(303);
        assertThat(root.headers().firstValue("Location")).hasValue("/login");
        assertThat(client.get("/vm/alpha", null).statusCode()).isEqualTo(303);
        assertThat(client.get("/api/vms", null).statusCode()).isEqualTo(401);
        assertThat(client.post("/api/vms/alpha/stop", null, client.origin, null).statusCode()).isEqualTo(401);
        assertThat(client.get("/api/vms", "forged-session-id").statusCode()).isEqualTo(401);
        try (StandInConsole c = new StandInConsole(backend.consoleSocket("alpha"))) {
            assertThat(client.ws("/ws/alpha/console", null, client.origin, new WebClient.Received(true)).refusedStatus()).isEqualTo(401);
        }
        assertThat(backend.actions).isEmpty();

        HttpResponse<String> login = client.get("/login", null);
        assertThat(login.statusCode()).isEqualTo(200);
        assertThat(login.body()).contains("<form method=\"post\" action=\"/login\"");
    }

    @Test
    void loginFormsTrickledAByteAtATimeGet408AtTheirDeadlineWhileOthersAreServed() throws Exception {
        // More trickling logins than the console has threads (48): each has sent its headers and
        // one byte of a 4 KiB form. Read with a thread each, they would starve the console.
        List<Socket> trickling = new ArrayList<>();
        try {
            for (int i = 0; i < 60; i++) {
                Socket s = new Socket("127.0.0.1", web.port());
                s.getOutputStream().write(("POST /login HTTP/1.1\r\nHost: 127.0.0.1:" + web.port() + "\r\nOrigin: "
                        + client.origin + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: "
                        + WebConsole.MAX_FORM + "\r\n\r\nt").getBytes(StandardCharsets.US_ASCII));
                s.getOutputStream().flush();
                trickling.add(s);
            }
            // Answered at once, well before the trickling connections' 30 s idle timeout would free threads.
            try (Socket s = new Socket("127.0.0.1", web.port())) {
                s.setSoTimeout(15_000);
                s.getOutputStream().write(("GET /login HTTP/1.1\r\nHost: 127.0.0.1:" + web.port() + "\r\n\r\n")
                        .getBytes(StandardCharsets.US_ASCII));
                assertThat(new String(s.getInputStream().readNBytes(12), StandardCharsets.US_ASCII))
                        .as("the login page while 60 forms trickle in").isEqualTo("HTTP/1.1 200");
            }
            assertThat(client.login(tokens.adminToken())).as("and a real login").isNotNull();
            // A form that does not arrive in time is answered 408 (no thread waited for it).
            Socket first = trickling.getFirst();
            first.setSoTimeout((int) (WebConsole.LOGIN_BODY_DEADLINE.toMillis() * 6));
            String status = new String(first.getInputStream().readNBytes(12), StandardCharsets.US_ASCII);
            assertThat(status).isEqualTo("HTTP/1.1 408");
        } finally {
            for (Socket s : trickling) {
                s.close();
            }
        }
    }

    @Test
    void aWrongTokenIsRefusedAndGetsNoCookie() throws Exception {
        HttpResponse<String> r = client.post("/login", null, client.origin, "token=nope");
        assertThat(r.statusCode()).isEqualTo(303);
        assertThat(r.headers().firstValue("Location")).hasValue("/login?failed=1");
        assertThat(r.headers().firstValue("Set-Cookie")).isEmpty();
        // Another daemon's tokens, a VM token with its name changed, an over-long one: refused.
        WebTokens other = WebTokens.generate();
        assertThat(client.login(other.adminToken())).isNull();
        assertThat(client.login(other.vmToken("alpha"))).isNull();
        assertThat(client.login(tokens.vmToken("alpha").replace("alpha~", "beta~"))).isNull();
        assertThat(client.login("x".repeat(5000))).isNull();
    }

    @Test
    void theAdminTokenSeesEveryVmWithAStrictCookieAndPolicy() throws Exception {
        HttpResponse<String> r = client.post("/login", null, client.origin, "token=" + tokens.adminToken());
        assertThat(r.statusCode()).isEqualTo(303);
        assertThat(r.headers().firstValue("Location")).hasValue("/");
        String setCookie = r.headers().firstValue("Set-Cookie").orElseThrow();
        assertThat(setCookie).startsWith(WebConsole.COOKIE + "=").contains("HttpOnly").contains("SameSite=Strict").contains("Path=/");
        String cookie = client.login(tokens.adminToken());

        HttpResponse<String> list = client.get("/", cookie);
        assertThat(list.statusCode()).isEqualTo(200);
        String csp = list.headers().firstValue("Content-Security-Policy").orElseThrow();
        assertThat(csp).contains("default-src 'none'").contains("script-src 'self';").contains("frame-ancestors 'none'");
        assertThat(csp.substring(csp.indexOf("script-src"), csp.indexOf(';', csp.indexOf("script-src")))).doesNotContain("unsafe");
        assertThat(list.headers().firstValue("X-Content-Type-Options")).hasValue("nosniff");
        assertThat(client.get("/api/vms", cookie).body()).contains("\"alpha\"").contains("\"beta\"");
        assertThat(client.get("/vm/beta", cookie).statusCode()).isEqualTo(200);
        assertThat(client.get("/vm/gamma", cookie).statusCode()).isEqualTo(404);

        HttpResponse<String> pause = client.post("/api/vms/beta/pause", cookie, client.origin, null);
        assertThat(pause.statusCode()).isEqualTo(200);
        assertThat(pause.body()).contains("\"state\":\"paused\"");
        assertThat(client.post("/api/vms/beta/delete", cookie, client.origin, null).statusCode()).isEqualTo(404);
        assertThat(backend.actions).containsExactly("beta:pause");

        assertThat(client.post("/logout", cookie, client.origin, null).statusCode()).isEqualTo(303);
        assertThat(client.get("/api/vms", cookie).statusCode()).isEqualTo(401);
    }

    @Test
    void oneVmsTokenCannotOpenAnotherVmsPagesCallsOrSockets() throws Exception {
        HttpResponse<String> r = client.post("/login", null, client.origin, "token=" + tokens.vmToken("alpha"));
        assertThat(r.headers().firstValue("Location")).hasValue("/vm/alpha");
        String cookie = client.login(tokens.vmToken("alpha"));
        assertThat(client.get("/", cookie).headers().firstValue("Location")).hasValue("/vm/alpha");
        assertThat(client.get("/vm/alpha", cookie).statusCode()).isEqualTo(200);
        assertThat(client.get("/vm/beta", cookie).statusCode()).isEqualTo(403);
        assertThat(client.get("/api/vms", cookie).body()).contains("\"alpha\"").doesNotContain("beta");
        assertThat(client.get("/api/vms/beta", cookie).statusCode()).isEqualTo(403);
        assertThat(client.get("/api/vms/no-such-vm", cookie).statusCode()).isEqualTo(403);
        assertThat(client.post("/api/vms/beta/stop", cookie, client.origin, null).statusCode()).isEqualTo(403);
        assertThat(backend.actions).isEmpty();
        try (StandInConsole a = new StandInConsole(backend.consoleSocket("alpha"));
             StandInConsole b = new StandInConsole(backend.consoleSocket("beta"));
             StandInRfb bv = new StandInRfb(backend.vncSocket("beta"))) {
            assertThat(client.ws("/ws/beta/console", cookie, client.origin, new WebClient.Received(true)).refusedStatus()).isEqualTo(403);
            assertThat(client.ws("/ws/beta/vnc", cookie, client.origin, new WebClient.Received(true), "binary").refusedStatus()).isEqualTo(403);
            WebClient.Opened own = client.ws("/ws/alpha/console", cookie, client.origin, new WebClient.Received(true));
            assertThat(own.refusedStatus()).isZero();
            own.ws().sendClose(WebSocket.NORMAL_CLOSURE, "");
        }
        assertThat(client.post("/api/vms/alpha/pause", cookie, client.origin, null).statusCode()).isEqualTo(200);
        assertThat(backend.actions).containsExactly("alpha:pause");
    }

    @Test
    void oneActionAtATimePerVm() throws Exception {
        String cookie = client.login(tokens.adminToken());
        backend.hold = new java.util.concurrent.CountDownLatch(1);
        CompletableFuture<HttpResponse<String>> first = CompletableFuture.supplyAsync(() -> {
            try {
                return client.post("/api/vms/alpha/stop", cookie, client.origin, null);
            } catch (IOException | InterruptedException e) {
                throw new RuntimeException(e);
            }
        });
        await(() -> backend.actions.contains("alpha:stop"));
        HttpResponse<String> second = client.post("/api/vms/alpha/pause", cookie, client.origin, null);
        assertThat(second.statusCode()).isEqualTo(409);
        assertThat(second.body()).contains("action under way");
        backend.hold.countDown();
        assertThat(first.get(30, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
        backend.hold = null;
        assertThat(client.post("/api/vms/alpha/start", cookie, client.origin, null).statusCode()).isEqualTo(200);
        assertThat(backend.actions).containsExactly("alpha:stop", "alpha:start");
    }

    @Test
    void changesAndSocketsMustComeFromThisConsolesOwnOrigin() throws Exception {
        assertThat(client.post("/login", null, null, "token=" + tokens.adminToken()).statusCode()).isEqualTo(403);
        assertThat(client.post("/login", null, "http://evil.example", "token=" + tokens.adminToken()).statusCode()).isEqualTo(403);
        String cookie = client.login(tokens.adminToken());
        assertThat(client.post("/api/vms/alpha/stop", cookie, "http://evil.example", null).statusCode()).isEqualTo(403);
        assertThat(client.post("/api/vms/alpha/stop", cookie, null, null).statusCode()).isEqualTo(403);
        assertThat(client.post("/api/vms/alpha/stop", cookie, "http://localhost:1", null).statusCode()).isEqualTo(403);
        assertThat(backend.actions).isEmpty();
        try (StandInConsole c = new StandInConsole(backend.consoleSocket("alpha"))) {
            assertThat(client.ws("/ws/alpha/console", cookie, "http://evil.example", new WebClient.Received(true)).refusedStatus()).isEqualTo(403);
            assertThat(client.ws("/ws/alpha/console", cookie, null, new WebClient.Received(true)).refusedStatus()).isEqualTo(403);
        }
    }

    @Test
    void aRequestForAnotherHostNameIsRefused() throws Exception {
        // DNS rebinding: a page of evil.example whose name now resolves to 127.0.0.1.
        String reply = rawGet("evil.example:" + web.port(), "/login");
        assertThat(reply).startsWith("HTTP/1.1 421");
        assertThat(rawGet("localhost:" + web.port(), "/login")).startsWith("HTTP/1.1 200");
    }

    @Test
    void assetsAreConfinedToTheirDirectoryWithKnownTypes() throws Exception {
        Path assets = dir.resolve("assets");
        Files.createDirectories(assets.resolve("x"));
        Files.writeString(assets.resolve("x/a.js"), "export const a = 1;");
        Files.writeString(assets.resolve("x/page.html"), "<script>alert(1)</script>");
        Files.writeString(dir.resolve("secret.js"), "secret");
        Files.createSymbolicLink(assets.resolve("x/link.js"), dir.resolve("secret.js"));
        StaticFiles f = new StaticFiles(assets);
        assertThat(f.asset("x/a.js")).hasValueSatisfying(v -> assertThat(v.contentType()).startsWith("text/javascript"));
        assertThat(f.asset("x/page.html")).isEmpty();
        assertThat(f.asset("x/link.js")).isEmpty();
        assertThat(f.asset("../secret.js")).isEmpty();
        assertThat(f.asset("x/../../secret.js")).isEmpty();
        assertThat(f.asset("/etc/passwd")).isEmpty();
        assertThat(f.asset(".hidden.js")).isEmpty();
        assertThat(client.get("/assets/../secret.js", null).statusCode()).isNotEqualTo(200);
        assertThat(client.get("/assets/%2e%2e/secret.js", null).statusCode()).isNotEqualTo(200);
        HttpResponse<String> css = client.get("/static/app.css", null);
        assertThat(css.headers().firstValue("Content-Type")).hasValue("text/css; charset=utf-8");
        assertThat(client.get("/static/WebConsole.class", null).statusCode()).isEqualTo(404);
    }

    @Test
    void theConsoleBridgeCarriesEveryByteBothWays() throws Exception {
        String cookie = client.login(tokens.adminToken());
        try (StandInConsole c = new StandInConsole(backend.consoleSocket("alpha"))) {
            WebClient.Received got = new WebClient.Received(true);
            WebSocket ws = client.ws("/ws/alpha/console", cookie, client.origin, got).ws();
            byte[] all = new byte[255];
            for (int i = 0, b = 0; i < all.length; b++) {
                if (b != '\r') {
                    all[i++] = (byte) b; // every byte value but CR, which the stand-in answers
                }
            }
            ws.sendBinary(ByteBuffer.wrap(all), true).join();
            assertThat(got.read(all.length)).isEqualTo(all);
            ws.sendClose(WebSocket.NORMAL_CLOSURE, "").join();
            got.closed.get(30, TimeUnit.SECONDS);
            // Text frames (a page may send them) arrive as their UTF-8 bytes; a fresh connection
            // is a fresh line for the stand-in.
            got = new WebClient.Received(true);
            ws = client.ws("/ws/alpha/console", cookie, client.origin, got).ws();
            ws.sendText("ls\r", true).join();
            assertThat(new String(got.read("ls\r\r\nstand-in: LS\r\n".length()), StandardCharsets.UTF_8))
                    .isEqualTo("ls\r\r\nstand-in: LS\r\n");
            ws.sendClose(WebSocket.NORMAL_CLOSURE, "").join();
        }
    }

    @Test
    void theDisplayBridgeSpeaksTheBinarySubprotocolAndWithoutASocketSaysNoDisplay() throws Exception {
        String cookie = client.login(tokens.adminToken());
        assertThat(client.get("/api/vms/alpha", cookie).body()).contains("\"display\":false");
        assertThat(client.ws("/ws/alpha/vnc", cookie, client.origin, new WebClient.Received(true), "binary").refusedStatus()).isEqualTo(404);
        try (StandInRfb rfb = new StandInRfb(backend.vncSocket("alpha"))) {
            assertThat(client.get("/api/vms/alpha", cookie).body()).contains("\"display\":true");
            WebClient.Received got = new WebClient.Received(true);
            WebSocket ws = client.ws("/ws/alpha/vnc", cookie, client.origin, got, "binary").ws();
            assertThat(ws.getSubprotocol()).isEqualTo("binary");
            assertThat(got.read(StandInRfb.VERSION.length)).isEqualTo(StandInRfb.VERSION);
            ws.sendClose(WebSocket.NORMAL_CLOSURE, "").join();
        }
    }

    @Test
    void atMostTheCapOfSocketsPerVmAndAClosedOneFreesItsSlot() throws Exception {
        String cookie = client.login(tokens.adminToken());
        try (StandInConsole a = new StandInConsole(backend.consoleSocket("alpha"));
             StandInConsole b = new StandInConsole(backend.consoleSocket("beta"))) {
            WebClient.Received r1 = new WebClient.Received(true);
            WebSocket first = client.ws("/ws/alpha/console", cookie, client.origin, r1).ws();
            client.ws("/ws/alpha/console", cookie, client.origin, new WebClient.Received(true)).ws();
            assertThat(client.ws("/ws/alpha/console", cookie, client.origin, new WebClient.Received(true)).refusedStatus()).isEqualTo(429);
            // Another VM has slots of its own.
            assertThat(client.ws("/ws/beta/console", cookie, client.origin, new WebClient.Received(true)).refusedStatus()).isZero();
            first.sendClose(WebSocket.NORMAL_CLOSURE, "").join();
            r1.closed.get(30, TimeUnit.SECONDS);
            await(() -> slots.open("alpha") == 1);
            assertThat(client.ws("/ws/alpha/console", cookie, client.origin, new WebClient.Received(true)).refusedStatus()).isZero();
        }
    }

    @Test
    void closingEitherSideClosesTheOther() throws Exception {
        String cookie = client.login(tokens.adminToken());
        Path sock = backend.consoleSocket("alpha");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(sock));
            // The VM's side closes: the browser's socket closes.
            WebClient.Received r1 = new WebClient.Received(true);
            client.ws("/ws/alpha/console", cookie, client.origin, r1).ws();
            server.accept().close();
            assertThat(r1.closed.get(30, TimeUnit.SECONDS)).isEqualTo(1000);
            // The browser closes: the VM's side reads end-of-stream.
            WebSocket ws2 = client.ws("/ws/alpha/console", cookie, client.origin, new WebClient.Received(true)).ws();
            try (SocketChannel vmSide = server.accept()) {
                ws2.sendClose(WebSocket.NORMAL_CLOSURE, "").join();
                assertThat(vmSide.read(ByteBuffer.allocate(16))).isEqualTo(-1);
            }
            await(() -> slots.open("alpha") == 0);
        }
    }

    /**
     * A browser that does not read: the bridge stops reading the VM's socket (the writer there
     * stalls after what the kernel's socket buffers hold), instead of buffering without limit;
     * once the browser reads again every byte arrives, in order.
     */
    @Test
    void aSlowBrowserStallsTheVmSideInsteadOfGrowingABuffer() throws Exception {
        final long total = 96L << 20;
        String cookie = client.login(tokens.adminToken());
        Path sock = backend.consoleSocket("alpha");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(sock));
            WebClient.Received got = new WebClient.Received(false);
            WebSocket ws = client.ws("/ws/alpha/console", cookie, client.origin, got).ws();
            AtomicLong writtenAtStall = new AtomicLong(-1);
            CompletableFuture<Long> flood = CompletableFuture.supplyAsync(() -> {
                try (SocketChannel vm = server.accept(); Selector sel = Selector.open()) {
                    vm.configureBlocking(false);
                    vm.register(sel, SelectionKey.OP_WRITE);
                    ByteBuffer chunk = ByteBuffer.allocate(64 * 1024);
                    long written = 0;
                    while (written < total) {
                        chunk.clear();
                        for (int i = 0; i < chunk.capacity(); i++) {
                            chunk.put((byte) pattern(written + i));
                        }
                        chunk.flip().limit((int) Math.min(chunk.capacity(), total - written));
                        while (chunk.hasRemaining()) {
                            int n = vm.write(chunk);
                            written += n;
                            // Nothing could be written for 3 s: the reader (the bridge) has stopped.
                            if (n == 0 && sel.select(3000) == 0 && writtenAtStall.get() < 0) {
                                writtenAtStall.set(written);
                                ws.request(Long.MAX_VALUE); // the browser reads again
                            }
                            sel.selectedKeys().clear();
                        }
                    }
                    return written;
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            long received = 0;
            while (received < total) {
                byte[] b = got.data.poll(120, TimeUnit.SECONDS);
                assertThat(b).as("data after " + received + " bytes").isNotNull();
                for (byte x : b) {
                    if (x != (byte) pattern(received)) {
                        throw new AssertionError("byte " + received + " differs");
                    }
                    received++;
                }
            }
            assertThat(flood.get(60, TimeUnit.SECONDS)).isEqualTo(total);
            System.out.println("WebConsoleTest: the VM side stalled after " + (writtenAtStall.get() >> 10) + " KiB of " + (total >> 10));
            assertThat(writtenAtStall.get()).as("the writer stalled while the browser did not read").isBetween(1L, total / 2);
        }
    }

    private static int pattern(long i) {
        return (int) ((i * 31 + (i >> 16) + 7) & 0xff);
    }

    private static void await(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            assertThat(System.nanoTime()).as("timed out").isLessThan(deadline);
            Thread.sleep(10);
        }
    }

    private String rawGet(String host, String path) throws IOException {
        try (Socket s = new Socket("127.0.0.1", web.port())) {
            OutputStream out = s.getOutputStream();
            out.write(("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = s.getInputStream();
            return new String(in.readAllBytes(), StandardCharsets.ISO_8859_1);
        }
    }
}
