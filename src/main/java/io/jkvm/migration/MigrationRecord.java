package io.jkvm.migration;

import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.MachineConfig;

import java.util.Arrays;

/** One decoded record of the migration stream ({@link Wire}); sizes already checked by the reader. */
sealed interface MigrationRecord {
    /** {@code shape} is null when the source did not describe its devices (not a Linux VM). */
    record Config(MachineConfig config, VmShape shape) implements MigrationRecord {}

    /** {@code data} holds {@code gpas.length} pages back to back. */
    record Pages(long[] gpas, byte[] data) implements MigrationRecord {
        public Pages {
            if (data.length != (long) gpas.length * Wire.PAGE) {
                throw new IllegalArgumentException("PAGES: " + gpas.length + " gpas but " + data.length + " bytes");
            }
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Pages p && Arrays.equals(gpas, p.gpas) && Arrays.equals(data, p.data);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(gpas);
        }
    }

    record ZeroPages(long[] gpas) implements MigrationRecord {
        @Override
        public boolean equals(Object o) {
            return o instanceof ZeroPages z && Arrays.equals(gpas, z.gpas);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(gpas);
        }
    }

    record Round(int round, long pages) implements MigrationRecord {}

    record KvmState(byte[] bytes) implements MigrationRecord {}

    record Device(DeviceState state) implements MigrationRecord {}

    record Done() implements MigrationRecord {}

    record Abort(String reason) implements MigrationRecord {}

    record Ready() implements MigrationRecord {}

    record Refused(String reason) implements MigrationRecord {}

    record Resumed() implements MigrationRecord {}

    record Failed(String reason) implements MigrationRecord {}
}
