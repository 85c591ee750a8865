package io.jkvm.migration;

import io.jkvm.memory.GuestMemory;
import io.jkvm.memory.GuestRam;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.MachineConfig;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;

/** Migration streams built without KVM, and a destination that applies them to plain anonymous RAM. */
final class StreamFixture {
    private StreamFixture() {}

    static final long RAM = 2 << 20;
    static final MachineConfig CONFIG = new MachineConfig(1, RAM, false);

    interface Body {
        void write(RecordWriter w) throws IOException;
    }

    static byte[] stream(Body body) {
        try {
            ByteArrayOutputStream b = new ByteArrayOutputStream();
            RecordWriter w = new RecordWriter(b);
            w.header();
            body.write(w);
            w.flush();
            return b.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static byte[] page(int seed) {
        byte[] p = new byte[Wire.PAGE];
        for (int i = 0; i < p.length; i++) {
            p[i] = (byte) (seed + i * 13);
        }
        return p;
    }

    /** One writable disk of 64 KiB, copied in the valid stream. */
    static final VmShape SHAPE = new VmShape(List.of(new VmShape.Disk("d", false, 64 << 10)), List.of(), false, false);

    /**
     * A complete, valid stream: config (with a copied disk), two rounds of pages, zero pages and
     * disk blocks, state, a device, done.
     */
    static byte[] valid() {
        return stream(w -> {
            w.config(CONFIG, SHAPE, List.of(0));
            w.blocks(0, 4096, page(5), 0, 1024);
            w.zeroBlocks(0, 8192, 8192);
            byte[] two = new byte[2 * Wire.PAGE];
            System.arraycopy(page(1), 0, two, 0, Wire.PAGE);
            System.arraycopy(page(2), 0, two, Wire.PAGE, Wire.PAGE);
            w.pages(new long[] {0x1000, RAM - Wire.PAGE}, two, 2);
            w.round(0, 2);
            w.zeroPages(new long[] {0x1000}, 1);
            w.pages(new long[] {0x3000}, page(3), 1);
            w.round(1, 2);
            w.kvmState(new byte[] {1, 2, 3, 4});
            w.device(DeviceState.of("serial0", new byte[] {9, 8, 7}));
            w.empty(Wire.DONE);
        });
    }

    /**
     * Feeds {@code bytes} to a destination with {@link #RAM} bytes of RAM and returns the accepted
     * stream; the only exception for bad input must be {@link MigrationException}.
     */
    static IncomingStream receive(byte[] bytes, GuestRam ram) {
        RecordReader r = new RecordReader(new ByteArrayInputStream(bytes));
        byte[] disk = new byte[64 << 10]; // ranges are checked against the announced disk's size, at most this
        IncomingStream s = new IncomingStream((c, shape, copied) -> {
            String why = c.incompatibility(CONFIG.toOptions());
            if (why != null) {
                throw new MigrationException("refused: " + why);
            }
            if (shape != null && shape.disks().stream().anyMatch(d -> d.sizeBytes() > disk.length)) {
                throw new MigrationException("refused: a disk over " + disk.length + " bytes");
            }
            return ram.memory();
        }, new IncomingStream.DiskWriter() {
            public void write(int d, long offset, byte[] data) {
                System.arraycopy(data, 0, disk, (int) offset, data.length);
            }

            public void zero(int d, long offset, long length) {
                java.util.Arrays.fill(disk, (int) offset, (int) (offset + length), (byte) 0);
            }
        });
        try {
            r.header();
            while (!s.accept(r.read(s))) { // the stream's own limits, as IncomingMigration reads
                // next record
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return s;
    }

    static GuestMemory memory(GuestRam ram) {
        return ram.memory();
    }
}
