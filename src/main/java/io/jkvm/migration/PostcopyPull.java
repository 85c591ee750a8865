package io.jkvm.migration;

import io.jkvm.memory.LazyFill;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.ScheduledFuture;

/**
 * Post-copy's destination end: where the lazy fill of guest RAM ({@link LazyFill}) gets the
 * chunks pre-copy left behind. Each is asked for (REQUEST) and read back (CHUNK) on the fill
 * thread, one at a time, over the migration's own connection; the fill asks for the chunk a
 * vCPU or device waits on first, and otherwise for the next one nobody touched, so the
 * post-copy phase ends after one pass. Once every chunk is in RAM the source is told (FILLED)
 * and the connection closes (not before RESUMED went out: a fill of a few chunks can end before
 * the VM starts).
 *
 * <p>Anything else ends the fill: a broken connection, a source that gives up, an answer that
 * is not the chunk asked for, a chunk that does not arrive within the migration's silence limit
 * (a peer trickling bytes would otherwise hold the guest's vCPUs for ever). The machine then
 * stops with the reason ({@link io.jkvm.vmm.Machine#fillRamLazily}): the guest has run here, so
 * the source's copy is out of date and it cannot go on there either. That is the risk post-copy
 * trades for converging, and why a migration takes it only when asked.
 */
final class PostcopyPull implements LazyFill.ChunkSource {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(PostcopyPull.class);
    private final RecordReader in;
    /** Shared with the receiving thread's replies (RESUMED, FAILED): every write holds its monitor. */
    private final RecordWriter out;
    private final AutoCloseable connection;
    /** Ends the connection at once (a deadline's action: a plain close could wait behind a blocked writer). */
    private final Runnable reset;
    private final int missing;
    private final long deadlineMillis;
    private int received;
    private volatile boolean overdue;
    private boolean resumedSent;
    private boolean filledSent;
    private boolean fillEnded;

    PostcopyPull(RecordReader in, RecordWriter out, AutoCloseable connection, Runnable reset, int missing, long deadlineMillis) {
        this.in = in;
        this.out = out;
        this.connection = connection;
        this.reset = reset;
        this.missing = missing;
        this.deadlineMillis = deadlineMillis;
    }

    @Override
    public void read(int index, MemorySegment into) throws Exception {
        long length = into.byteSize();
        // Only the chunk asked for, of its length, or the source giving up: nothing else is read.
        RecordReader.Limits limits = type -> switch (type) {
            case Wire.CHUNK -> new RecordReader.Limit(4 + length, "the " + length + "-byte chunk asked for");
            case Wire.ABORT -> new RecordReader.Limit(RecordReader.maxLength(type), null);
            default -> new RecordReader.Limit(0, "only CHUNK answers a REQUEST");
        };
        MigrationRecord r;
        ScheduledFuture<?> deadline = MigrationDeadlines.after(deadlineMillis, () -> {
            overdue = true;
            reset.run();
        });
        try {
            synchronized (out) {
                out.request(index);
                out.flush();
            }
            r = in.read(limits);
        } catch (IOException | MigrationException e) {
            throw lost(overdue ? "chunk " + index + " did not arrive within " + deadlineMillis + " ms" : e.getMessage());
        } finally {
            deadline.cancel(false);
        }
        switch (r) {
            case MigrationRecord.Chunk c when c.index() == index && c.data().length == length -> {
                MemorySegment.copy(c.data(), 0, into, ValueLayout.JAVA_BYTE, 0, c.data().length);
                received++;
            }
            case MigrationRecord.Chunk c -> throw lost("asked for chunk " + index + " (" + length + " bytes), the source sent"
                    + " chunk " + c.index() + " (" + c.data().length + " bytes)");
            case MigrationRecord.Abort a -> throw lost("the source gave up: " + a.reason());
            default -> throw lost("asked for chunk " + index + ", the source sent " + r.getClass().getSimpleName());
        }
    }

    private MigrationException lost(String why) {
        return new MigrationException("post-copy: " + (missing - received) + " of " + missing + " chunks of guest RAM"
                + " never arrived from the source (" + why + "); the guest cannot go on here, nor at the source, whose"
                + " copy is out of date");
    }

    /** Every chunk is in RAM: FILLED, so the source lets go. */
    @Override
    public void filled() throws IOException {
        ScheduledFuture<?> deadline = MigrationDeadlines.after(deadlineMillis, reset); // a source that stopped reading
        try {
            synchronized (out) {
                out.empty(Wire.FILLED);
                out.flush();
            }
        } finally {
            deadline.cancel(false);
        }
        synchronized (this) {
            filledSent = true;
        }
    }

    /**
     * The receiving thread wrote RESUMED: the connection may close once the fill has ended.
     */
    void resumedSent() {
        synchronized (this) {
            resumedSent = true;
            if (!fillEnded) {
                return;
            }
        }
        closeConnection();
    }

    /** A stop from another thread: a read blocked on the source returns (failing the fill). */
    @Override
    public void interrupt() {
        reset.run();
    }

    /** The fill ended: the connection closes now, or after RESUMED when the fill succeeded first. */
    @Override
    public void close() {
        synchronized (this) {
            fillEnded = true;
            if (filledSent && !resumedSent) {
                return; // resumedSent() closes it
            }
        }
        closeConnection();
    }

    private void closeConnection() {
        try {
            connection.close();
        } catch (Exception e) {
            LOG.debug("closing the migration connection after post-copy: {}", e.toString());
        }
    }
}
