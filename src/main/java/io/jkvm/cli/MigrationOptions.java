package io.jkvm.cli;

import io.jkvm.migration.Convergence;
import io.jkvm.migration.MigrationAddress;
import io.jkvm.migration.MigrationException;
import picocli.CommandLine.Option;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The options of a live migration shared by {@code jkvm migrate} and {@code jkvm vm migrate}, and
 * the request they make. The TLS files are {@code jkvm migrate}'s alone: under the daemon a VMM
 * uses the certificates it was started with ({@code jkvm daemon --tls-*}), the only files its
 * Landlock domain lets it read.
 */
final class MigrationOptions {
    @Option(names = "--to", paramLabel = "tcp:HOST:PORT", description = "The destination's --incoming address.")
    String to;

    @Option(names = "--max-downtime-ms", paramLabel = "N", description = "Pause budget (default: ${DEFAULT-VALUE}).")
    long maxDowntimeMs = 300;

    @Option(names = "--copy-drive", paramLabel = "DRIVE_ID",
            description = "Copy this writable drive's contents to the destination's drive of the same id while the guest"
                    + " runs (storage migration; repeat for more drives). Drives not named must be on storage both hosts see.")
    java.util.List<String> copyDrives = new java.util.ArrayList<>();

    @Option(names = "--postcopy",
            description = "If pre-copy does not converge, start the VM at the destination at once and let it fetch the"
                    + " pages still dirty from here (instead of throttling the guest). A connection lost before it has"
                    + " them all loses the guest.")
    boolean postcopy;

    @Option(names = "--no-progress", description = "Print no progress on standard error while the migration runs.")
    boolean noProgress;

    /**
     * The PUT /migrate body, every option checked here first (one line naming the bad option);
     * the TLS files (all three or none; none: the VMM's own) are {@code jkvm migrate}'s.
     */
    Map<String, Object> request(Path tlsCert, Path tlsKey, Path tlsCa) {
        if (to == null) {
            throw new UserError("--to tcp:HOST:PORT is required");
        }
        try {
            MigrationAddress.parse("--to", to);
            new Convergence(maxDowntimeMs);
        } catch (MigrationException e) {
            throw new UserError(e.getMessage().replace("max_downtime_ms", "--max-downtime-ms"));
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("destination", to);
        body.put("max_downtime_ms", maxDowntimeMs);
        if (!copyDrives.isEmpty()) {
            if (copyDrives.stream().anyMatch(String::isBlank)) {
                throw new UserError("--copy-drive: a drive id is empty");
            }
            if (copyDrives.stream().distinct().count() != copyDrives.size()) {
                throw new UserError("--copy-drive: a drive is named twice");
            }
            body.put("copy_drives", java.util.List.copyOf(copyDrives));
        }
        if (postcopy) {
            body.put("postcopy", true);
        }
        if (MigrationTlsFlags.checked(tlsCert, tlsKey, tlsCa) != null) {
            body.put("tls_cert", tlsCert.toAbsolutePath().toString());
            body.put("tls_key", tlsKey.toAbsolutePath().toString());
            body.put("tls_ca", tlsCa.toAbsolutePath().toString());
        }
        return body;
    }

    /** $COLUMNS if it is a sensible width, else 80. */
    static int terminalColumns(String env) {
        try {
            int c = env == null ? 80 : Integer.parseInt(env.trim());
            return c >= 20 && c <= 1000 ? c : 80;
        } catch (NumberFormatException e) {
            return 80;
        }
    }

    /** How one command fetches the migration's report (GET /migrate of the VMM, or of the daemon's VM). */
    @FunctionalInterface
    interface ReportSource {
        io.jkvm.migration.MigrationReport get() throws java.io.IOException;
    }

    /** Between two reports while a migration runs: a progress display's refresh, not synchronization. */
    private static final long POLL_MS = 200;

    /**
     * Polls {@code source} until the migration has finished and returns its last report, showing
     * progress on {@code err} meanwhile (unless --no-progress). The VMM keeps a finished report
     * until a client has read it, so none is missed between two polls.
     */
    io.jkvm.migration.MigrationReport await(ReportSource source, PrintWriter err)
            throws java.io.IOException, InterruptedException {
        MigrationProgress progress = progress(err);
        try {
            while (true) {
                io.jkvm.migration.MigrationReport r = source.get();
                if (r.status().finished()) {
                    return r;
                }
                if (progress != null) {
                    progress.show(r);
                }
                Thread.sleep(POLL_MS);
            }
        } finally {
            if (progress != null) {
                progress.done();
            }
        }
    }

    /** The progress display on {@code err}, redrawn in place on a terminal; null with --no-progress. */
    MigrationProgress progress(PrintWriter err) {
        if (noProgress) {
            return null;
        }
        // The display goes to standard error: whether that is a terminal decides how it draws.
        return new MigrationProgress(err, io.jkvm.kvm.Native.isatty(2), terminalColumns(System.getenv("COLUMNS")));
    }
}
