package io.jkvm.storage;

import io.jkvm.config.ConfigException;

import java.util.Locale;

/**
 * The format of a disk image file. It is always stated by the user, never probed from the file's
 * contents: a guest can write anything into a raw image, including a qcow2 header naming a
 * host file as its backing file, so probing would let it read host files after a restart.
 */
public enum DiskFormat {
    RAW,
    QCOW2;

    /** The name as configuration spells it ({@code raw}, {@code qcow2}). */
    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Parses {@code value} for the configuration field {@code field} (e.g. "--disk: field
     * 'format'").
     *
     * @throws ConfigException naming the field for anything but raw or qcow2
     */
    public static DiskFormat parse(String field, String value) {
        for (DiskFormat f : values()) {
            if (f.id().equals(value)) {
                return f;
            }
        }
        throw new ConfigException(field + " must be raw or qcow2, not '" + value + "'");
    }
}
