package io.jkvm.daemon.web;

import java.nio.file.Path;
import java.time.Duration;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * What a person does with the web console, in Chromium: follow the admin link, see the VM list,
 * open a VM's page, type a line into its serial terminal (xterm.js) and see the answer, look at
 * its display (noVNC); then a link for one VM, which cannot reach another's. Screenshots of each
 * step go to {@code shots}.
 */
final class BrowserWalk {
    static final int NO_DISPLAY = -1;
    static final int ANY_DISPLAY = -2;

    private BrowserWalk() {}

    /**
     * @param typed     what to type on the serial console ('\r' for Enter)
     * @param answer    text the terminal must then show
     * @param displayRgb the colour the display's canvas must show (0xRRGGBB), {@link #NO_DISPLAY} when
     *                   the VM has none, {@link #ANY_DISPLAY} when either is fine (the page must settle)
     */
    static void walk(Chromium browser, WebConsoleFile link, String vm, String otherVm, String typed, String answer,
                     int displayRgb, Path shots, Duration patience) throws Exception {
        browser.navigate(link.loginUrl(null));
        browser.await("the VM list", "location.pathname === '/' && !!document.querySelector('tr[data-vm=\"" + vm + "\"] .badge')", patience);
        assertThat(browser.eval("location.hash").asText()).as("the token leaves the address bar").isEmpty();
        browser.await("state badges", "document.querySelector('tr[data-vm=\"" + vm + "\"] .badge').textContent === 'running'", patience);
        browser.screenshot(shots.resolve("1-vm-list.png"));

        browser.navigate(link.url() + "vm/" + vm);
        browser.await("the serial console to connect", "document.getElementById('console-status').textContent === 'connected'", patience);
        browser.eval("document.querySelector('.xterm-helper-textarea').focus()");
        browser.type(typed);
        browser.await("the terminal to show '" + answer + "'",
                "document.querySelector('.xterm-rows').innerText.includes(" + jsString(answer) + ")", patience);
        if (displayRgb >= 0) {
            browser.await("the display to connect", "document.getElementById('display-status').textContent === 'connected'", patience);
            String pixel = "(() => { const c = document.querySelector('#screen canvas');"
                    + " const d = c.getContext('2d').getImageData(c.width >> 1, c.height >> 1, 1, 1).data;"
                    + " return (d[0] << 16) | (d[1] << 8) | d[2]; })()";
            browser.await("the display's pixels", pixel + " === " + displayRgb, patience);
        } else if (displayRgb == NO_DISPLAY) {
            browser.await("'no display'", "document.getElementById('display-status').textContent === 'no display'", patience);
        } else {
            browser.await("the display to connect or say 'no display'",
                    "['connected', 'no display'].includes(document.getElementById('display-status').textContent)", patience);
        }
        browser.screenshot(shots.resolve("2-vm-page.png"));

        // A link for one VM: its page opens; another VM's page, calls and sockets answer 403.
        browser.eval("fetch('/logout', {method: 'POST'}).then(r => r.status)");
        browser.navigate(link.loginUrl(vm));
        browser.await("the VM's own page", "location.pathname === '/vm/" + vm + "'"
                + " && document.getElementById('console-status').textContent === 'connected'", patience);
        assertThat(browser.eval("fetch('/vm/" + otherVm + "').then(r => r.status)").asInt()).isEqualTo(403);
        assertThat(browser.eval("fetch('/api/vms/" + otherVm + "').then(r => r.status)").asInt()).isEqualTo(403);
        assertThat(browser.eval("fetch('/api/vms/" + otherVm + "/stop', {method: 'POST'}).then(r => r.status)").asInt()).isEqualTo(403);
        assertThat(browser.eval("new Promise(ok => { const w = new WebSocket('ws://' + location.host + '/ws/" + otherVm + "/console');"
                + " w.onopen = () => ok('opened'); w.onerror = () => ok('refused'); })").asText()).isEqualTo("refused");
        assertThat(browser.eval("fetch('/api/vms').then(r => r.json()).then(l => l.map(v => v.name).join(','))").asText()).isEqualTo(vm);
        browser.screenshot(shots.resolve("3-vm-link.png"));
    }

    private static String jsString(String s) {
        return io.jkvm.api.Json.write(s);
    }
}
