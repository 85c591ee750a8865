package io.jkvm.migration;

import io.jkvm.memory.GuestMemory;
import io.jkvm.memory.RamChunks;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.BitSet;

/**
 * Post-copy's source end: the chunks still dirty at the switch-over ({@link #missing}), sent as
 * the destination asks for them (REQUEST), each once. Reads the paused VM's RAM through the
 * regions, as {@link PageSender} does. A request for a chunk that was not left behind, or for one
 * already sent, is a broken destination: refused, which ends the migration.
 */
final class PostcopySender {
    private final RamChunks chunks;
    private final BitSet left;
    private final int missing;
    private final RecordWriter out;
    private final byte[] buffer = new byte[Wire.POSTCOPY_CHUNK];
    private volatile int sent;

    private PostcopySender(RamChunks chunks, BitSet left, RecordWriter out) {
        this.chunks = chunks;
        this.left = left;
        this.missing = left.cardinality();
        this.out = out;
    }

    /** The chunks holding any of {@code dirtyGpas}: what the destination must fetch. */
    static PostcopySender of(GuestMemory memory, long[] dirtyGpas, RecordWriter out) {
        RamChunks chunks = RamChunks.of(memory, Wire.POSTCOPY_CHUNK);
        BitSet left = new BitSet(chunks.count());
        for (long gpa : dirtyGpas) {
            int i = chunks.indexOf(gpa);
            if (i < 0) {
                throw new IllegalStateException("dirty log named gpa 0x" + Long.toHexString(gpa) + " outside guest RAM");
            }
            left.set(i);
        }
        return new PostcopySender(chunks, left, out);
    }

    /** POSTCOPY: the chunk count and which of them the destination must fetch. */
    void announce() throws IOException {
        out.postcopy(chunks.count(), left);
    }

    /** Chunks to send in all. */
    int missing() {
        return missing;
    }

    /** Chunks sent so far (any thread). */
    int sent() {
        return sent;
    }

    /** Answers REQUEST {@code index} with the chunk's bytes. */
    void send(int index) throws IOException {
        if (index >= chunks.count() || !left.get(index)) {
            throw new MigrationException("REQUEST record: chunk " + index + (index >= chunks.count() ? " is out of range"
                    : " was not left for post-copy or was sent already"));
        }
        left.clear(index);
        GuestMemory.Region r = chunks.region(index);
        int length = (int) chunks.length(index);
        MemorySegment.copy(r.host(), ValueLayout.JAVA_BYTE, chunks.offset(index), buffer, 0, length);
        out.chunk(index, buffer, length);
        out.flush();
        sent++;
    }
}
