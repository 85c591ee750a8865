package io.jkvm.migration;

import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.MachineConfig;

import java.io.BufferedOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/** Writes {@link Wire} records. Not thread-safe: one writer per connection direction. */
final class RecordWriter {
    private final DataOutputStream out;
    /** Written by the one writer thread, read by progress reports. */
    private volatile long bytes;

    private volatile long lastProgressNanos = System.nanoTime();

    RecordWriter(OutputStream out) {
        // Chunks of 256 KiB: each completed chunk counts as progress for the stall watchdog.
        OutputStream progress = new java.io.FilterOutputStream(out) {
            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                for (int done = 0; done < len; ) {
                    int n = Math.min(len - done, 256 << 10);
                    this.out.write(b, off + done, n);
                    done += n;
                    lastProgressNanos = System.nanoTime();
                }
            }

            @Override
            public void write(int b) throws IOException {
                this.out.write(b);
                lastProgressNanos = System.nanoTime();
            }
        };
        this.out = new DataOutputStream(new BufferedOutputStream(progress, 1 << 20));
    }

    /** Restarts the stall clock (after local work that wrote nothing). */
    void markProgress() {
        lastProgressNanos = System.nanoTime();
    }

    /** When the peer last accepted bytes (System.nanoTime()). */
    long lastProgressNanos() {
        return lastProgressNanos;
    }

    /** Bytes written so far (headers included). */
    long bytes() {
        return bytes;
    }

    private int version = Wire.VERSION;

    void header() throws IOException {
        header(Wire.VERSION);
    }

    /** The stream header for {@code version} ({@link Wire#OLDEST_VERSION} to {@link Wire#VERSION}). */
    void header(int version) throws IOException {
        if (version < Wire.OLDEST_VERSION || version > Wire.VERSION) {
            throw new IllegalArgumentException("stream version " + version);
        }
        this.version = version;
        out.write(Wire.MAGIC);
        out.writeInt(version);
        bytes += Wire.MAGIC.length + 4;
    }

    private void begin(int type, int length) throws IOException {
        out.writeByte(type);
        out.writeInt(length);
        bytes += 5L + length;
    }

    void config(MachineConfig c) throws IOException {
        config(c, null);
    }

    /** CONFIG with the device shape ({@code shape} null: none) and no copied disks. */
    void config(MachineConfig c, VmShape shape) throws IOException {
        config(c, shape, java.util.List.of());
    }

    /** CONFIG with the device shape and the indexes of the disks whose contents follow (ascending). */
    void config(MachineConfig c, VmShape shape, java.util.List<Integer> copiedDisks) throws IOException {
        config(c, shape, copiedDisks, false);
    }

    /** As above; {@code postcopy}: a POSTCOPY record may follow (version 4). */
    void config(MachineConfig c, VmShape shape, java.util.List<Integer> copiedDisks, boolean postcopy) throws IOException {
        byte[] s = shape == null ? new byte[0] : shape.encode();
        boolean v2 = version < Wire.DISKS_VERSION;
        boolean flags = version >= Wire.POSTCOPY_VERSION;
        if (v2 && !copiedDisks.isEmpty()) {
            throw new IllegalStateException("a version " + version + " stream cannot copy disks");
        }
        if (!flags && postcopy) {
            throw new IllegalStateException("a version " + version + " stream cannot switch to post-copy");
        }
        begin(Wire.CONFIG, 15 + s.length + (v2 ? 0 : 1 + copiedDisks.size()) + (flags ? 1 : 0));
        out.writeInt(c.cpus());
        out.writeLong(c.memoryBytes());
        out.writeByte(c.irqchip() ? 1 : 0);
        out.writeShort(s.length);
        out.write(s);
        if (!v2) {
            out.writeByte(copiedDisks.size());
            for (int d : copiedDisks) {
                out.writeByte(d);
            }
        }
        if (flags) {
            out.writeByte(postcopy ? Wire.FLAG_POSTCOPY : 0);
        }
    }

    /** POSTCOPY: of {@code chunks} chunks, those set in {@code missing} are fetched after the start. */
    void postcopy(int chunks, java.util.BitSet missing) throws IOException {
        if (missing.length() > chunks) {
            throw new IllegalArgumentException("chunk " + (missing.length() - 1) + " of " + chunks);
        }
        byte[] bits = java.util.Arrays.copyOf(missing.toByteArray(), (int) ((chunks + 7L) / 8));
        begin(Wire.POSTCOPY, 4 + bits.length);
        out.writeInt(chunks);
        out.write(bits);
    }

    /** CHUNK: chunk {@code index}'s bytes, {@code len} of them from {@code data}. */
    void chunk(int index, byte[] data, int len) throws IOException {
        begin(Wire.CHUNK, 4 + len);
        out.writeInt(index);
        out.write(data, 0, len);
    }

    void request(int index) throws IOException {
        begin(Wire.REQUEST, 4);
        out.writeInt(index);
    }

    /** BLOCKS: {@code len} bytes of {@code data} from {@code off}, disk {@code disk}'s contents at {@code offset}. */
    void blocks(int disk, long offset, byte[] data, int off, int len) throws IOException {
        begin(Wire.BLOCKS, 9 + len);
        out.writeByte(disk);
        out.writeLong(offset);
        out.write(data, off, len);
    }

    void zeroBlocks(int disk, long offset, long length) throws IOException {
        begin(Wire.ZERO_BLOCKS, 17);
        out.writeByte(disk);
        out.writeLong(offset);
        out.writeLong(length);
    }

    /** {@code count} pages from {@code data} (count * 4096 bytes) at {@code gpas[0..count)}. */
    void pages(long[] gpas, byte[] data, int count) throws IOException {
        begin(Wire.PAGES, 4 + count * (8 + Wire.PAGE));
        out.writeInt(count);
        for (int i = 0; i < count; i++) {
            out.writeLong(gpas[i]);
            out.write(data, i * Wire.PAGE, Wire.PAGE);
        }
    }

    void zeroPages(long[] gpas, int count) throws IOException {
        begin(Wire.ZERO_PAGES, 4 + 8 * count);
        out.writeInt(count);
        for (int i = 0; i < count; i++) {
            out.writeLong(gpas[i]);
        }
    }

    void round(int round, long pages) throws IOException {
        begin(Wire.ROUND, 12);
        out.writeInt(round);
        out.writeLong(pages);
    }

    void kvmState(byte[] state) throws IOException {
        begin(Wire.KVM_STATE, state.length);
        out.write(state);
    }

    void device(DeviceState d) throws IOException {
        byte[] name = d.name().getBytes(StandardCharsets.UTF_8);
        byte[] b = d.bytes();
        begin(Wire.DEVICE, 2 + name.length + b.length);
        out.writeShort(name.length);
        out.write(name);
        out.write(b);
    }

    void empty(int type) throws IOException {
        begin(type, 0);
    }

    /** ABORT, REFUSED or FAILED with a reason cut to {@link Wire#MAX_REASON} bytes. */
    void reason(int type, String reason) throws IOException {
        byte[] r = String.valueOf(reason).getBytes(StandardCharsets.UTF_8);
        int n = Math.min(r.length, Wire.MAX_REASON);
        begin(type, n);
        out.write(r, 0, n);
    }

    void flush() throws IOException {
        out.flush();
    }
}
