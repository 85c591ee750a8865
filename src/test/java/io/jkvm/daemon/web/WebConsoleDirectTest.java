package io.jkvm.daemon.web;

import io.jkvm.api.UdsHttpServer;
import io.jkvm.testing.JkvmCommand;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.Patience;
import io.jkvm.testing.RawHttp;
import io.jkvm.testing.TestKernels;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Direct KVM: the web console of a real daemon with a real VM, in headless Chromium. The guest
 * (TestKernels.echoingInCapitals) answers what is typed on its serial port in capitals, so typing
 * "hello" + Enter into xterm.js and seeing "HELLO" proves the whole path: browser, WebSocket,
 * bridge, the VMM's console socket, the UART, the guest, and back. The display shows noVNC's
 * connection when the VMM serves vnc.sock, "no display" otherwise. Screenshots:
 * target/web-console/direct/. (WebConsoleChromiumTest walks the same path against stand-ins.)
 */
@Tag("kvm")
class WebConsoleDirectTest {
    @TempDir
    Path dir;
    private Process daemon;
    private Path state;

    @AfterEach
    void cleanUp() {
        if (daemon != null) {
            daemon.destroyForcibly();
        }
        if (state == null) {
            return;
        }
        String mine = state.toAbsolutePath().toString();
        ProcessHandle.allProcesses()
                .filter(p -> p.info().arguments().map(a -> String.join(" ", a).contains(mine)).orElse(false))
                .forEach(ProcessHandle::destroyForcibly);
    }

    @Test
    void typeOnAVmsSerialConsoleInTheBrowserAndSeeItsAnswer() throws Exception {
        KvmAvailable.assume();
        Assumptions.assumeTrue(Chromium.binary() != null, "no chromium (bin/setup-host installs the Debian package)");
        Path assets = WebAssets.ensure();
        Patience.hangDetector(600, () -> {
            state = dir.resolve("state");
            Path sock = dir.resolve("daemon.sock");
            Path kernel = TestKernels.echoingInCapitals(dir);
            List<String> cmd = new ArrayList<>(JkvmCommand.of("daemon", "--state-dir", state.toString(), "--socket", sock.toString(),
                    "--http", "127.0.0.1:0", "--web-assets", assets.toString()));
            ProcessBuilder pb = new ProcessBuilder(cmd);
            pb.environment().put("JKVM_VMM_START_TIMEOUT", String.valueOf(Patience.secondsOf(300)));
            daemon = pb.redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(ProcessBuilder.Redirect.appendTo(dir.resolve("daemon.log").toFile())).start();
            long deadline = System.nanoTime() + Patience.seconds(120).toNanos();
            while (!UdsHttpServer.listening(sock) || !Files.exists(WebConsoleFile.in(state))) {
                assertThat(System.nanoTime()).as("the daemon and its web console").isLessThan(deadline);
                Thread.sleep(25);
            }
            for (String name : List.of("echo", "other")) {
                // VM echo has a display: its VMM serves vms/echo/vnc.sock, which noVNC reaches through the
                // daemon. Its test guest never sets a mode, so the screen is the VNC server's black fallback.
                RawHttp.Reply r = RawHttp.request(sock, "POST", "/vms", """
                        {"name": "%s", "config": {
                          "boot-source": {"kernel_image_path": "%s", "boot_args": "console=ttyS0"},
                          "machine-config": {"vcpu_count": 1, "mem_size_mib": 32}}%s}
                        """.formatted(name, kernel, name.equals("echo") ? ", \"display\": {\"width\": 640, \"height\": 480}" : ""));
                assertThat(r.status()).as(r.raw()).isEqualTo(201);
            }
            RawHttp.Reply started = RawHttp.request(sock, "POST", "/vms/echo/start", null);
            assertThat(started.status()).as(started.raw()).isEqualTo(200);
            Path serial = state.resolve("vms/echo/serial.log");
            deadline = System.nanoTime() + Patience.seconds(120).toNanos();
            while (!Files.exists(serial) || !Files.readString(serial, StandardCharsets.ISO_8859_1).contains(TestKernels.UP)) {
                assertThat(System.nanoTime()).as("the guest's first line").isLessThan(deadline);
                Thread.sleep(25);
            }
            // The link as a person gets it: from the CLI.
            Process url = new ProcessBuilder(JkvmCommand.of("vm", "console-url", "--socket", sock.toString())).start();
            String link = new String(url.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            assertThat(url.waitFor(120, TimeUnit.SECONDS)).isTrue();
            WebConsoleFile file = WebConsoleFile.read(state);
            assertThat(link).isEqualTo(file.loginUrl(null));
            // The VMM serves the display where the web console's bridge looks for it, speaking RFB.
            try (java.nio.channels.SocketChannel vnc = java.nio.channels.SocketChannel.open(
                    java.net.UnixDomainSocketAddress.of(state.resolve("vms/echo/vnc.sock")))) {
                java.nio.ByteBuffer greeting = java.nio.ByteBuffer.allocate(12);
                while (greeting.hasRemaining() && vnc.read(greeting) >= 0) {
                    // the 12-byte ProtocolVersion (RFC 6143 §7.1.1)
                }
                assertThat(new String(greeting.array(), StandardCharsets.US_ASCII)).isEqualTo("RFB 003.008\n");
            }
            // Chromium under the lab's emulated CPU loses its page to CDP's "target navigated or
            // closed" mid-walk; the browser half runs where the VMM has /dev/kvm, and
            // WebConsoleChromiumTest drives the same pages on every host.
            Assumptions.assumeFalse(insideTheLab(), "inside the lab: the VM, its daemon, link and vnc.sock are checked;"
                    + " the browser walk runs on hosts with /dev/kvm");
            Path shots = Path.of(System.getProperty("jkvm.home", "."), "target", "web-console", "direct");
            try (Chromium browser = new Chromium(dir.resolve("profile"))) {
                BrowserWalk.walk(browser, file, "echo", "other", "hello\r", "HELLO", 0x000000, shots, Patience.seconds(120));
            }
            assertThat(Files.readString(serial, StandardCharsets.ISO_8859_1)).contains("HELLO");
            RawHttp.request(sock, "POST", "/vms/echo/kill", null);
        });
    }

    /** Whether this runs inside the lab machine (its kernel command line carries jkvm.lab=). */
    private static boolean insideTheLab() {
        try {
            return Files.readString(Path.of("/proc/cmdline")).contains(" jkvm.lab=");
        } catch (java.io.IOException e) {
            return false;
        }
    }
}
