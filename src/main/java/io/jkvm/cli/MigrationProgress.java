package io.jkvm.cli;

import io.jkvm.migration.MigrationReport;

import java.io.PrintWriter;
import java.util.Locale;

/**
 * {@code jkvm migrate}'s progress on standard error (standard output keeps only the final
 * report): on a terminal one line redrawn in place, elsewhere (a log, a pipe) one line each time
 * the phase or the pre-copy round changes.
 */
final class MigrationProgress {
    private static final int BAR = 24;
    private final PrintWriter err;
    private final boolean terminal;
    private final int columns;
    private String lastKey;
    private int lastWidth;

    /** {@code columns}: the terminal's width; a redrawn line must not wrap, or each redraw adds a row. */
    MigrationProgress(PrintWriter err, boolean terminal, int columns) {
        this.err = err;
        this.terminal = terminal;
        this.columns = columns;
    }

    void show(MigrationReport r) {
        String line = line(r);
        if (terminal) {
            line = line.length() < columns ? line : line.substring(0, columns - 1);
            // Pad over what the previous, longer line left on the screen.
            err.print("\r" + line + " ".repeat(Math.max(0, lastWidth - line.length())));
            lastWidth = line.length();
        } else {
            String key = r.phase() + "/" + r.rounds();
            if (key.equals(lastKey)) {
                return;
            }
            lastKey = key;
            err.println(line);
        }
        err.flush();
    }

    /** Ends the redrawn line, so the report starts on its own. */
    void done() {
        if (terminal && lastWidth > 0) {
            err.println();
            err.flush();
        }
    }

    /** One progress line, e.g. {@code precopy round 2 [######------------------] 25%, 96.0 of 128.0 MiB left, ...}. */
    static String line(MigrationReport r) {
        StringBuilder b = new StringBuilder(r.phase());
        if (r.phase().equals("precopy")) {
            long round = r.roundBytes();
            long done = Math.max(0, round - r.remainingBytes());
            int percent = round == 0 ? 0 : (int) (done * 100 / round);
            int filled = round == 0 ? 0 : (int) (done * BAR / round);
            b.append(" round ").append(r.rounds())
                    .append(" [").append("#".repeat(filled)).append("-".repeat(BAR - filled)).append("] ")
                    .append(percent).append('%')
                    .append(String.format(Locale.ROOT, ", %.1f of %.1f MiB left", r.remainingBytes() / 1048576.0, round / 1048576.0));
        }
        if (r.phase().equals("postcopy") && r.postcopyChunks() > 0) {
            long done = r.postcopySent();
            long all = r.postcopyChunks();
            int filled = (int) (done * BAR / all);
            b.append(" [").append("#".repeat(filled)).append("-".repeat(BAR - filled)).append("] ")
                    .append(done * 100 / all).append("%, ").append(all - done).append(" of ").append(all)
                    .append(" chunks still to fetch (the VM runs at the destination)");
        }
        if (r.diskBytes() > 0) {
            b.append(String.format(Locale.ROOT, ", disks %.1f MiB copied", r.diskBytes() / 1048576.0));
            if (r.diskDirtyBytes() > 0) {
                b.append(String.format(Locale.ROOT, " (%.1f MiB rewritten)", r.diskDirtyBytes() / 1048576.0));
            }
        }
        b.append(String.format(Locale.ROOT, ", %.1f MiB sent, %.0f MiB/s", r.bytes() / 1048576.0, r.bandwidthMibPerSecond()));
        if (r.expectedDowntimeMillis() > 0) {
            b.append(", expected downtime ").append(r.expectedDowntimeMillis()).append(" ms (max ")
                    .append(r.maxDowntimeMillis()).append(')');
        }
        if (r.throttlePercent() > 0) {
            b.append(", throttle ").append(r.throttlePercent()).append('%');
        }
        return b.toString();
    }
}
