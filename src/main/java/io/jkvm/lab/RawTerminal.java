package io.jkvm.lab;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;

/**
 * Puts the controlling terminal in raw mode (no echo, no line editing, no signals: ^C goes to the
 * lab command) and restores it, through {@code stty} on {@code /dev/tty}.
 */
final class RawTerminal {
    private final String saved;
    private boolean restored;

    private RawTerminal(String saved) {
        this.saved = saved;
    }

    static RawTerminal enter() throws IOException {
        String saved = stty("-g").strip();
        stty("raw", "-echo");
        return new RawTerminal(saved);
    }

    synchronized void restore() {
        if (restored) {
            return;
        }
        restored = true;
        try {
            stty(saved);
        } catch (IOException e) {
            // nothing more to do; the user can run "stty sane"
        }
    }

    private static String stty(String... args) throws IOException {
        String[] cmd = new String[args.length + 1];
        cmd[0] = "stty";
        System.arraycopy(args, 0, cmd, 1, args.length);
        Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/tty")))
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.US_ASCII);
        try {
            if (p.waitFor() != 0) {
                throw new IOException("stty " + String.join(" ", args) + " failed");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        return out;
    }
}
