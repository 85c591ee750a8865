package io.jkvm.migration;

import io.jkvm.storage.LoggedDisk;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.BooleanSupplier;

/**
 * Copies chunks of a {@link LoggedDisk} into BLOCKS / ZERO_BLOCKS records: read in units of
 * {@link #UNIT} bytes, contiguous non-zero units joined into BLOCKS of up to
 * {@link Wire#MAX_BLOCK_BYTES}, contiguous all-zero units into one ZERO_BLOCKS of up to
 * {@link Wire#MAX_ZERO_BLOCK_BYTES} (the destination makes those read as zeros, for free on a
 * fresh image). One migration thread; not thread-safe. Memory is one buffer of
 * {@link Wire#MAX_BLOCK_BYTES}, whatever the disk's size.
 *
 * <p>Reading a long run of zeros puts few bytes on the wire: what is buffered is flushed at least
 * every {@link #FLUSH_EVERY_NANOS}, so the destination's read timeout never mistakes a slow local
 * disk for a dead source, and the time spent reading does not count as the destination stalling.
 */
final class DiskSender implements AutoCloseable {
    static final int UNIT = 64 << 10;
    static final long FLUSH_EVERY_NANOS = 1_000_000_000L;

    private final RecordWriter out;
    private final BooleanSupplier cancelled;
    private final Arena arena = Arena.ofConfined();
    private final MemorySegment buf = arena.allocate(Wire.MAX_BLOCK_BYTES);
    private final MemorySegment zero = arena.allocate(UNIT);
    private final byte[] bytes = new byte[Wire.MAX_BLOCK_BYTES];
    private LoggedDisk disk;
    private long dataOffset;
    private int dataLength;
    private long zeroOffset;
    private long zeroLength;
    /** Disk bytes looked at (data sent and zero ranges), exact on the migration thread. */
    private long bytesCopied;
    private volatile long shownCopied;
    private long flushedAt = System.nanoTime();

    DiskSender(RecordWriter out, BooleanSupplier cancelled) {
        this.out = out;
        this.cancelled = cancelled;
    }

    /** Disk bytes covered so far (as last published, for progress reports on other threads). */
    long bytesSoFar() {
        return shownCopied;
    }

    long bytesCopied() {
        return bytesCopied;
    }

    /** Every chunk of the disk (the bulk copy); returns the disk bytes covered. */
    long sendAll(LoggedDisk d) throws IOException {
        begin(d);
        for (long c = 0; c < d.writes().chunks(); c++) {
            chunk(c);
        }
        return end();
    }

    /** The chunks of a batch collected from the disk's write log, ascending. */
    long send(LoggedDisk d, io.jkvm.storage.DirtyChunks.Batch chunks) throws IOException {
        begin(d);
        for (long c = chunks.next(0); c >= 0; c = chunks.next(c + 1)) {
            chunk(c);
        }
        return end();
    }

    private long before;

    private void begin(LoggedDisk d) {
        disk = d;
        before = bytesCopied;
    }

    private void chunk(long index) throws IOException {
        long chunk = disk.writes().chunkSize();
        long start = index * chunk;
        long end = Math.min(disk.size(), start + chunk);
        for (long u = start; u < end; u += UNIT) {
            unit(u, (int) Math.min(UNIT, end - u));
        }
        long now = System.nanoTime();
        if (now - flushedAt > FLUSH_EVERY_NANOS) {
            flushZeros(); // a zero run in progress goes now: the wire must not fall silent
            out.flush();
            flushedAt = now;
        }
    }

    private long end() throws IOException {
        flushData();
        flushZeros();
        out.flush();
        flushedAt = System.nanoTime();
        shownCopied = bytesCopied;
        return bytesCopied - before;
    }

    private void unit(long offset, int length) throws IOException {
        if (dataLength > 0 && (dataOffset + dataLength != offset || dataLength + length > Wire.MAX_BLOCK_BYTES)) {
            flushData();
        }
        MemorySegment dst = buf.asSlice(dataLength, length);
        disk.image().read(offset, dst);
        out.markProgress(); // reading our own disk is not the destination stalling
        if (dst.mismatch(zero.asSlice(0, length)) < 0) {
            flushData();
            if (zeroLength > 0 && (zeroOffset + zeroLength != offset || zeroLength + length > Wire.MAX_ZERO_BLOCK_BYTES)) {
                flushZeros();
            }
            if (zeroLength == 0) {
                zeroOffset = offset;
            }
            zeroLength += length;
        } else {
            flushZeros();
            if (dataLength == 0) {
                dataOffset = offset;
            }
            dataLength += length;
        }
        bytesCopied += length;
    }

    private void flushData() throws IOException {
        if (dataLength == 0) {
            return;
        }
        if (cancelled.getAsBoolean()) {
            throw new MigrationCancelledException();
        }
        MemorySegment.copy(buf, ValueLayout.JAVA_BYTE, 0, bytes, 0, dataLength);
        out.blocks(disk.index(), dataOffset, bytes, 0, dataLength);
        dataLength = 0;
        shownCopied = bytesCopied;
    }

    private void flushZeros() throws IOException {
        if (zeroLength == 0) {
            return;
        }
        if (cancelled.getAsBoolean()) {
            throw new MigrationCancelledException();
        }
        out.zeroBlocks(disk.index(), zeroOffset, zeroLength);
        zeroLength = 0;
        shownCopied = bytesCopied;
    }

    @Override
    public void close() {
        arena.close();
    }
}
