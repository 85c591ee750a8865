package io.jkvm.daemon.web;

import io.jkvm.api.UdsHttpServer;
import io.jkvm.testing.JkvmCommand;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * {@code jkvm daemon --http} and {@code jkvm vm console-url} as processes (no VM, so no KVM
 * needed): the token file, the links, a login through them; and the refusal of a non-loopback
 * address.
 */
class WebConsoleDaemonTest {
    @TempDir
    Path dir;

    private record Run(int exit, String out) {}

    private static Run run(String... args) throws Exception {
        Process p = new ProcessBuilder(JkvmCommand.of(args)).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).isTrue();
        return new Run(p.exitValue(), out);
    }

    @Test
    void aNonLoopbackAddressIsRefusedInOneLine() throws Exception {
        Run r = run("daemon", "--state-dir", dir.resolve("s").toString(), "--http", "0.0.0.0:0");
        assertThat(r.exit()).isEqualTo(2);
        assertThat(r.out().strip()).contains("not a loopback address").contains("--http-allow-remote").doesNotContain("\n");
    }

    @Test
    void theDaemonWritesItsTokenAndConsoleUrlPrintsWorkingLinks() throws Exception {
        Path state = dir.resolve("state");
        Path sock = dir.resolve("daemon.sock");
        assertThat(run("vm", "console-url", "--state-dir", state.toString()).exit()).isEqualTo(5);
        List<String> cmd = new ArrayList<>(JkvmCommand.of("daemon", "--state-dir", state.toString(), "--socket", sock.toString(),
                "--http", "127.0.0.1:0", "--web-assets", dir.resolve("none").toString()));
        Process daemon = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(dir.resolve("daemon.log").toFile()).start();
        try {
            Path file = WebConsoleFile.in(state);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (!Files.exists(file) || !UdsHttpServer.listening(sock)) {
                assertThat(daemon.isAlive()).as("daemon running; log: " + Files.readString(dir.resolve("daemon.log"))).isTrue();
                assertThat(System.nanoTime()).as("the daemon's web console file").isLessThan(deadline);
                Thread.sleep(50);
            }
            assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(file))).isEqualTo("rw-------");
            WebConsoleFile f = WebConsoleFile.read(state);
            assertThat(f.url()).startsWith("http://127.0.0.1:");

            Run all = run("vm", "console-url", "--socket", sock.toString());
            assertThat(all.exit()).isZero();
            assertThat(all.out().strip()).isEqualTo(f.url() + "login#token=" + f.token());
            Run one = run("vm", "console-url", "alpha", "--state-dir", state.toString());
            assertThat(one.out().strip()).isEqualTo(f.loginUrl("alpha"));

            WebClient client = new WebClient(Integer.parseInt(f.url().replaceAll(".*:(\\d+)/$", "$1")));
            String admin = client.login(all.out().strip().substring(all.out().indexOf("#token=") + 7));
            HttpResponse<String> vms = client.get("/api/vms", admin);
            assertThat(vms.statusCode()).isEqualTo(200);
            assertThat(vms.body()).isEqualTo("[]");
            String vmLogin = client.login(one.out().strip().substring(one.out().indexOf("#token=") + 7));
            assertThat(client.get("/vm/beta", vmLogin).statusCode()).isEqualTo(403);
        } finally {
            daemon.destroy();
            assertThat(daemon.waitFor(60, TimeUnit.SECONDS)).isTrue();
        }
        assertThat(WebConsoleFile.in(state)).as("removed when the daemon stops").doesNotExist();
    }
}
