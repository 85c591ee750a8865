package io.jkvm.daemon.web;

import io.jkvm.api.EventLog;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The web console in headless Chromium against STAND-INS FOR A VM (this tier runs without KVM):
 * the serial console is {@link StandInConsole} (echo, and an answer per line) and the display is
 * {@link StandInRfb} (an RFB server with a one-colour screen), each on the Unix socket where the
 * VMM's would be. {@code WebConsoleDirectTest} walks the same path with a real VM. Screenshots:
 * target/web-console/stand-in/.
 */
class WebConsoleChromiumTest {
    @TempDir
    Path dir;

    @Test
    void loginListVmPageTerminalAndDisplayInABrowser() throws Exception {
        Assumptions.assumeTrue(Chromium.binary() != null, "no chromium (bin/setup-host installs the Debian package)");
        Path assets = WebAssets.ensure();
        FakeBackend backend = new FakeBackend(dir, "standin", "other");
        WebTokens tokens = WebTokens.generate();
        Path shots = Path.of(System.getProperty("jkvm.home", "."), "target", "web-console", "stand-in");
        try (WebConsole web = WebConsole.start(HttpAddress.parse("127.0.0.1:0", false), backend, tokens, assets, EventLog.toStderr("web-test"));
             StandInConsole console = new StandInConsole(backend.consoleSocket("standin"));
             StandInRfb display = new StandInRfb(backend.vncSocket("standin"));
             Chromium browser = new Chromium(dir.resolve("profile"))) {
            WebConsoleFile link = new WebConsoleFile(web.url(), tokens.adminToken(), ProcessHandle.current().pid());
            BrowserWalk.walk(browser, link, "standin", "other", "echo hello\r", "stand-in: ECHO HELLO",
                    StandInRfb.RGB, shots, Duration.ofSeconds(60));

            // A VM without a display socket: its page says so instead of failing.
            browser.eval("fetch('/logout', {method: 'POST'}).then(r => r.status)");
            browser.navigate(link.loginUrl("other"));
            browser.await("'no display'", "location.pathname === '/vm/other'"
                    + " && document.getElementById('display-status').textContent === 'no display'"
                    + " && !document.getElementById('no-display').hidden", Duration.ofSeconds(60));
            browser.screenshot(shots.resolve("4-no-display.png"));
            System.out.println("WebConsoleChromiumTest: the pages' console: " + browser.console);
            assertThat(browser.console).as("the pages' console").noneMatch(l -> l.contains("Content Security Policy") || l.startsWith("exception"));
        }
        assertThat(Files.size(shots.resolve("2-vm-page.png"))).isGreaterThan(1000);
    }
}
