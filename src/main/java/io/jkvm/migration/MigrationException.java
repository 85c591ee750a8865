package io.jkvm.migration;

/**
 * A migration failed or was refused. The message names the record, field or step at fault, so a
 * hostile or broken stream is reported as e.g. "PAGES record: gpa 0x... is outside guest RAM".
 */
public class MigrationException extends RuntimeException {
    public MigrationException(String message) {
        super(message);
    }

    public MigrationException(String message, Throwable cause) {
        super(message, cause);
    }
}
