package io.jkvm.api;

import io.jkvm.migration.Convergence;
import io.jkvm.migration.MigrationAddress;
import io.jkvm.migration.MigrationException;
import io.jkvm.migration.MigrationReport;
import io.jkvm.migration.MigrationSource;
import io.jkvm.migration.MigrationTls;
import io.jkvm.migration.OutgoingMigration;
import io.jkvm.migration.VmShape;

import java.nio.file.Path;
import java.time.Duration;

/**
 * The API's outgoing migration: at most one at a time, started by {@code PUT /migrate}, watched
 * with {@code GET /migrate}, stopped with {@code PUT /migrate/cancel}. After a completed
 * migration the VM stops here; {@link #awaitReportCollected} lets the VMM wait (bounded) for the
 * client to fetch the final report before the process exits.
 */
final class MigrationControl {
    private final MigrationTls defaultTls;
    private OutgoingMigration current;
    private boolean finalReportCollected;

    MigrationControl(MigrationTls defaultTls) {
        this.defaultTls = defaultTls;
    }

    synchronized void start(MigrationSource source, MigrateRequest r, EventLog log) {
        if (current != null && !current.status().status().finished()) {
            throw ApiException.notAllowed("a migration is already in progress (GET /migrate, PUT /migrate/cancel)");
        }
        if (r.destination() == null) {
            throw ApiException.badField("destination", "missing field 'destination' (tcp:HOST:PORT)");
        }
        java.util.List<String> copied = checkCopyDrives(source, r.copyDrives());
        MigrationAddress to;
        Convergence convergence;
        MigrationTls tls;
        try {
            to = MigrationAddress.parse("destination", r.destination());
            convergence = new Convergence(r.maxDowntimeMs() == null ? MigrateRequest.DEFAULT_MAX_DOWNTIME_MS : r.maxDowntimeMs(),
                    r.postcopy());
            tls = tls(r);
            tls.context(); // refuse unreadable or mismatched files now, naming the field
        } catch (MigrationException e) {
            throw ApiException.badRequest(e.getMessage().replace("--tls-", "tls_"));
        }
        current = new OutgoingMigration(source, to, tls, convergence, copied).start();
        finalReportCollected = false;
        log.info("migration_started", "destination", to.toString(), "max_downtime_ms", convergence.maxDowntimeMillis(),
                "postcopy", convergence.postcopy());
    }

    /** Each id names one writable drive of this VM, once; returns their virtio-blk serials (the disks' ids). */
    private static java.util.List<String> checkCopyDrives(MigrationSource source, java.util.List<String> ids) {
        if (ids.isEmpty()) {
            return ids;
        }
        VmShape shape;
        try {
            shape = source.shape();
        } catch (MigrationException e) {
            throw ApiException.badField("copy_drives", "copy_drives: " + e.getMessage());
        }
        java.util.Set<String> seen = new java.util.LinkedHashSet<>();
        for (String id : ids) {
            if (id == null || id.isEmpty()) {
                throw ApiException.badField("copy_drives", "copy_drives: a drive id is empty");
            }
            String serial = GuestDevices.serial(id);
            if (!seen.add(serial)) {
                throw ApiException.badField("copy_drives", "copy_drives: drive '" + id + "' is listed twice");
            }
            VmShape.Disk disk = shape == null ? null
                    : shape.disks().stream().filter(d -> serial.equals(d.id())).findFirst().orElse(null);
            if (disk == null) {
                throw ApiException.badField("copy_drives", "copy_drives: this VM has no drive '" + id + "'");
            }
            if (disk.readOnly()) {
                throw ApiException.badField("copy_drives", "copy_drives: drive '" + id
                        + "' is read-only: only writable drives are copied (a read-only one must be at the destination already)");
            }
        }
        return java.util.List.copyOf(seen);
    }

    private MigrationTls tls(MigrateRequest r) {
        if (r.tlsCert() == null && r.tlsKey() == null && r.tlsCa() == null) {
            if (defaultTls == null) {
                throw new MigrationException("tls_cert, tls_key and tls_ca are required (or start the VMM with --tls-*)");
            }
            return defaultTls;
        }
        return new MigrationTls(absolute("tls_cert", r.tlsCert()), absolute("tls_key", r.tlsKey()),
                absolute("tls_ca", r.tlsCa()));
    }

    private static Path absolute(String field, String p) {
        if (p == null || p.isEmpty()) {
            throw new MigrationException("tls_cert, tls_key and tls_ca go together: " + field + " is missing");
        }
        Path path = Path.of(p);
        if (!path.isAbsolute()) {
            throw new MigrationException(field + ": must be an absolute path, got " + p);
        }
        return path;
    }

    synchronized MigrationReport status() {
        if (current == null) {
            throw ApiException.badRequest("no migration has been started (PUT /migrate)");
        }
        MigrationReport r = current.status();
        if (r.status().finished()) {
            finalReportCollected = true;
            notifyAll();
        }
        return r;
    }

    synchronized void cancel() {
        if (current == null) {
            throw ApiException.badRequest("no migration has been started (PUT /migrate)");
        }
        if (!current.cancel()) {
            throw ApiException.badRequest("the migration can no longer be cancelled (status "
                    + current.status().status().name().toLowerCase(java.util.Locale.ROOT) + ", phase "
                    + current.status().phase() + ")");
        }
    }

    /**
     * True if a migration ended this VM here: it completed (the VM runs elsewhere) or post-copy
     * broke after the switch-over (stopped here; the report says why).
     */
    synchronized boolean endedTheVmHere() {
        if (current == null) {
            return false;
        }
        MigrationReport r = current.status();
        return r.status() == MigrationReport.Status.COMPLETED || r.brokeInPostcopy();
    }

    /** Waits until a client has fetched the final report, at most {@code timeout}. */
    synchronized void awaitReportCollected(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!finalReportCollected) {
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return;
            }
            wait(Math.max(1, left / 1_000_000));
        }
    }
}
