package io.jkvm.migration;

/** The migration was cancelled through the API before it completed. */
public final class MigrationCancelledException extends MigrationException {
    public MigrationCancelledException() {
        super("cancelled");
    }
}
