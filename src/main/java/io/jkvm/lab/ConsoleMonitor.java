package io.jkvm.lab;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Optional;

/**
 * Watches L1's serial console: hides the boot noise before the start marker, optionally forwards
 * what the command prints after it (tty mode), and recognises the end markers
 * {@code @@JKVM-LAB-EXIT n@@} and {@code @@JKVM-LAB-ERROR message@@}, which are never forwarded
 * even when split across reads or glued to the command's last line.
 */
final class ConsoleMonitor {
    static final String START = "@@JKVM-LAB-START@@";
    static final String EXIT = "@@JKVM-LAB-EXIT ";
    static final String ERROR = "@@JKVM-LAB-ERROR ";
    private static final byte[] EXIT_B = EXIT.getBytes(StandardCharsets.US_ASCII);
    private static final byte[] ERROR_B = ERROR.getBytes(StandardCharsets.US_ASCII);
    private static final int LOG_LIMIT = 256 * 1024;

    private enum Phase { BOOT, RUN, MARKER, DONE }

    private final OutputStream forward;
    private final ByteArrayOutputStream log = new ByteArrayOutputStream();
    private final ByteArrayOutputStream line = new ByteArrayOutputStream();
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();
    private Phase phase = Phase.BOOT;
    private boolean markerIsError;
    private Integer exitStatus;
    private String error;
    private long startNanos = -1;
    private boolean logTruncated;
    private boolean ended;

    /** @param forward where the command's console output goes, or null to only watch */
    ConsoleMonitor(OutputStream forward) {
        this.forward = forward;
    }

    synchronized void feed(byte[] b, int off, int len) throws IOException {
        appendLog(b, off, len);
        for (int i = off; i < off + len; i++) {
            feed(b[i]);
        }
        if (forward != null && phase == Phase.RUN) {
            forward.flush();
        }
    }

    private void feed(byte c) throws IOException {
        switch (phase) {
            case BOOT -> {
                if (c == '\n') {
                    String l = line.toString(StandardCharsets.UTF_8).strip();
                    line.reset();
                    if (l.endsWith(START)) {
                        phase = Phase.RUN;
                        startNanos = System.nanoTime();
                        notifyAll();
                    } else if (l.contains(ERROR) || l.contains(EXIT)) {
                        // An end marker before the start: the lab failed while setting up.
                        int at = Math.max(l.indexOf(ERROR), l.indexOf(EXIT));
                        markerIsError = l.startsWith(ERROR, at);
                        parseMarker(l.substring(at + (markerIsError ? ERROR.length() : EXIT.length())));
                    }
                } else if (line.size() < 4096) {
                    line.write(c);
                }
            }
            case RUN -> run(c);
            case MARKER -> {
                line.write(c);
                String s = line.toString(StandardCharsets.UTF_8);
                if (s.endsWith("@@")) {
                    parseMarker(s);
                } else if (line.size() > 4096) {
                    phase = Phase.DONE;
                }
            }
            case DONE -> { }
        }
    }

    private void run(byte c) throws IOException {
        if (pending.size() == 0 && c != '@') {
            emit(c);
            return;
        }
        pending.write(c);
        while (pending.size() > 0) {
            byte[] p = pending.toByteArray();
            if (startsWith(EXIT_B, p) || startsWith(ERROR_B, p)) {
                if (p.length == EXIT_B.length && startsWith(EXIT_B, p)
                        || p.length == ERROR_B.length && startsWith(ERROR_B, p)) {
                    markerIsError = p.length == ERROR_B.length && startsWith(ERROR_B, p);
                    pending.reset();
                    line.reset();
                    phase = Phase.MARKER;
                }
                return;
            }
            // Not a marker after all: release the first byte and look at the rest again.
            emit(p[0]);
            pending.reset();
            pending.write(p, 1, p.length - 1);
        }
    }

    private void parseMarker(String body) {
        String s = body.endsWith("@@") ? body.substring(0, body.length() - 2) : body;
        if (markerIsError) {
            error = s.strip();
        } else {
            try {
                exitStatus = Integer.parseInt(s.strip());
            } catch (NumberFormatException e) {
                error = "unreadable exit marker: " + s;
            }
        }
        phase = Phase.DONE;
        notifyAll();
    }

    private static boolean startsWith(byte[] marker, byte[] p) {
        if (p.length > marker.length) {
            return false;
        }
        for (int i = 0; i < p.length; i++) {
            if (marker[i] != p[i]) {
                return false;
            }
        }
        return true;
    }

    private void emit(byte c) throws IOException {
        if (forward != null) {
            forward.write(c);
        }
    }

    /** Called at end of stream: bytes held back as a possible marker were output after all. */
    synchronized void finish() throws IOException {
        ended = true;
        notifyAll();
        if (phase == Phase.RUN && forward != null) {
            forward.write(pending.toByteArray());
            forward.flush();
        }
        pending.reset();
    }

    private void appendLog(byte[] b, int off, int len) {
        if (log.size() + len > LOG_LIMIT) {
            // Keep the end: that is where a failure shows.
            byte[] all = log.toByteArray();
            int keep = Math.min(all.length, LOG_LIMIT / 2);
            log.reset();
            log.write(all, all.length - keep, keep);
            logTruncated = true;
        }
        log.write(b, off, Math.min(len, LOG_LIMIT));
    }

    /** Blocks until the command has started; false if the console ended before that. */
    synchronized boolean awaitStart() throws InterruptedException {
        while (startNanos < 0 && !ended && phase == Phase.BOOT) {
            wait();
        }
        return startNanos >= 0;
    }

    synchronized boolean started() {
        return startNanos >= 0;
    }

    synchronized long startNanos() {
        return startNanos;
    }

    synchronized Optional<Integer> exitStatus() {
        return Optional.ofNullable(exitStatus);
    }

    synchronized Optional<String> error() {
        return Optional.ofNullable(error);
    }

    synchronized String log() {
        return (logTruncated ? "[...]\n" : "") + log.toString(StandardCharsets.UTF_8);
    }
}
