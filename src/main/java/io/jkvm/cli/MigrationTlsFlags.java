package io.jkvm.cli;

import io.jkvm.migration.MigrationException;
import io.jkvm.migration.MigrationTls;

import java.nio.file.Path;

/**
 * The --tls-cert, --tls-key and --tls-ca flags that {@code jkvm run}, {@code jkvm migrate} and
 * {@code jkvm daemon} share: all three or none, and the files usable, checked at the command line
 * so a bad one is named there in one line rather than when a migration starts.
 */
final class MigrationTlsFlags {
    private MigrationTlsFlags() {}

    /** The credentials the flags name (each file read and checked), or null when none is given. */
    static MigrationTls checked(Path cert, Path key, Path ca) {
        int given = (cert == null ? 0 : 1) + (key == null ? 0 : 1) + (ca == null ? 0 : 1);
        if (given == 0) {
            return null;
        }
        if (given != 3) {
            throw new UserError("--tls-cert, --tls-key and --tls-ca go together");
        }
        try {
            MigrationTls tls = new MigrationTls(cert, key, ca);
            tls.context();
            return tls;
        } catch (MigrationException e) {
            throw new UserError(e.getMessage());
        }
    }
}
