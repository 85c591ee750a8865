package io.jkvm.cli;

import io.jkvm.api.ApiException;
import io.jkvm.daemon.DaemonPaths;
import io.jkvm.snapshot.SnapshotException;
import io.jkvm.snapshot.SnapshotKey;

import java.io.IOException;
import java.nio.file.Path;
import java.util.function.Supplier;

/**
 * The snapshot key of a VMM started without {@code --snapshot-key}: the host's key in the state
 * directory the daemon uses ({@code $JKVM_STATE_DIR}, /var/lib/jkvm for root), created there
 * (32 random bytes, mode 0600) on the first snapshot request. Firecracker's clients (Kata passes
 * only its config file) cannot add a flag, and snapshots stay authenticated all the same; a VMM
 * and the daemon on one host share the key, so either can restore the other's snapshots.
 */
final class HostSnapshotKey implements Supplier<SnapshotKey> {
    private final Path stateDir;
    private SnapshotKey key;

    HostSnapshotKey(Path stateDir) {
        this.stateDir = stateDir;
    }

    static HostSnapshotKey inDefaultPlace() {
        return new HostSnapshotKey(DaemonPaths.defaultStateDir());
    }

    @Override
    public synchronized SnapshotKey get() {
        if (key == null) {
            try {
                key = SnapshotKey.loadOrGenerate(stateDir);
            } catch (SnapshotException e) {
                throw ApiException.notAllowed("the host snapshot key: " + e.getMessage());
            } catch (IOException e) {
                throw ApiException.notAllowed("cannot create or read the host snapshot key in " + stateDir + ": "
                        + e.getMessage() + " (set JKVM_STATE_DIR, or start the VMM with --snapshot-key FILE)");
            }
        }
        return key;
    }
}
