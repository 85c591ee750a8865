package io.jkvm.api;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Structured logging: one JSON object per line ({@code ts}, {@code level}, {@code event},
 * {@code component} and event fields), so logs of the VMM and the daemon can be filtered with
 * jq rather than parsed with regular expressions. Thread-safe; a write that fails is dropped,
 * never allowed to break the caller.
 */
public final class EventLog {
    /** Firecracker's level names, most severe first. */
    public enum Level {
        ERROR("Error"), WARNING("Warning"), INFO("Info"), DEBUG("Debug"), TRACE("Trace");

        private final String apiName;

        Level(String apiName) {
            this.apiName = apiName;
        }

        /** Parses Firecracker's level names in any case ("Off" gives null: log nothing). */
        public static Level parseOrOff(String name) {
            if (name.equalsIgnoreCase("Off")) {
                return null;
            }
            for (Level l : values()) {
                if (l.apiName.equalsIgnoreCase(name) || l.name().equalsIgnoreCase(name)
                        || (l == WARNING && name.equalsIgnoreCase("warn"))) {
                    return l;
                }
            }
            throw new IllegalArgumentException(name);
        }
    }

    private final String component;
    private PrintStream out;
    /** False while writing to a stream someone else owns (stderr): never closed here. */
    private boolean ownsOut;
    private Level threshold;

    public EventLog(String component, OutputStream out, Level threshold) {
        this.component = component;
        this.out = new PrintStream(out, true, StandardCharsets.UTF_8);
        this.threshold = threshold;
    }

    public static EventLog toStderr(String component) {
        return new EventLog(component, System.err, Level.INFO);
    }

    /** From now on, append to {@code file} (created if missing) at {@code level}; null level is off. */
    public synchronized void redirect(Path file, Level level) throws IOException {
        OutputStream o = Files.newOutputStream(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND,
                StandardOpenOption.WRITE);
        PrintStream old = out;
        boolean ownedOld = ownsOut;
        out = new PrintStream(o, true, StandardCharsets.UTF_8);
        ownsOut = true;
        threshold = level;
        if (ownedOld) {
            old.close();
        }
    }

    public void info(String event, Object... kv) {
        log(Level.INFO, event, kv);
    }

    public void warn(String event, Object... kv) {
        log(Level.WARNING, event, kv);
    }

    public void error(String event, Object... kv) {
        log(Level.ERROR, event, kv);
    }

    public void debug(String event, Object... kv) {
        log(Level.DEBUG, event, kv);
    }

    /** Logs {@code event} with key/value pairs {@code kv} (alternating names and values). */
    public synchronized void log(Level level, String event, Object... kv) {
        if (threshold == null || level.ordinal() > threshold.ordinal()) {
            return;
        }
        Map<String, Object> line = new LinkedHashMap<>();
        line.put("ts", Instant.now().toString());
        line.put("level", level.name().toLowerCase(Locale.ROOT));
        line.put("component", component);
        line.put("event", event);
        for (int i = 0; i + 1 < kv.length; i += 2) {
            Object v = kv[i + 1];
            line.put(String.valueOf(kv[i]), v instanceof Number || v instanceof Boolean || v == null ? v : String.valueOf(v));
        }
        try {
            out.println(Json.MAPPER.writeValueAsString(line));
        } catch (IOException e) {
            // a log line that cannot be written is dropped
        }
    }
}
