package io.jkvm.migration;

import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.MachineConfig;

import java.util.Arrays;

/** One decoded record of the migration stream ({@link Wire}); sizes already checked by the reader. */
sealed interface MigrationRecord {
    /**
     * {@code shape} is null when the source did not describe its devices (not a Linux VM);
     * {@code copiedDisks}: indexes into its disks whose contents follow in BLOCKS records;
     * {@code postcopy}: the source may switch to post-copy (a POSTCOPY record may follow).
     */
    record Config(MachineConfig config, VmShape shape, java.util.List<Integer> copiedDisks, boolean postcopy)
            implements MigrationRecord {
        public Config {
            copiedDisks = java.util.List.copyOf(copiedDisks);
        }

        Config(MachineConfig config, VmShape shape, java.util.List<Integer> copiedDisks) {
            this(config, shape, copiedDisks, false);
        }

        Config(MachineConfig config, VmShape shape) {
            this(config, shape, java.util.List.of());
        }
    }

    /** The switch to post-copy: of {@code chunks} chunks, those in {@code missing} are fetched after the start. */
    record Postcopy(int chunks, java.util.BitSet missing) implements MigrationRecord {
        public Postcopy {
            missing = (java.util.BitSet) missing.clone();
        }

        @Override
        public java.util.BitSet missing() {
            return (java.util.BitSet) missing.clone();
        }
    }

    /** Post-copy: chunk {@code index}'s bytes. */
    record Chunk(int index, byte[] data) implements MigrationRecord {
        @Override
        public boolean equals(Object o) {
            return o instanceof Chunk c && index == c.index && Arrays.equals(data, c.data);
        }

        @Override
        public int hashCode() {
            return index;
        }
    }

    /** Post-copy, from the destination: send chunk {@code index}. */
    record Request(int index) implements MigrationRecord {}

    /** Post-copy, from the destination: every chunk arrived. */
    record Filled() implements MigrationRecord {}

    /** {@code data}: whole sectors of copied disk {@code disk} at byte {@code offset}. */
    record Blocks(int disk, long offset, byte[] data) implements MigrationRecord {
        @Override
        public boolean equals(Object o) {
            return o instanceof Blocks b && disk == b.disk && offset == b.offset && Arrays.equals(data, b.data);
        }

        @Override
        public int hashCode() {
            return Long.hashCode(offset) * 31 + disk;
        }
    }

    record ZeroBlocks(int disk, long offset, long length) implements MigrationRecord {}

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
