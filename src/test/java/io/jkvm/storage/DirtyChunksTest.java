package io.jkvm.storage;

import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.LongRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.TreeSet;

import static org.assertj.core.api.Assertions.assertThat;

class DirtyChunksTest {
    private static final long DISK = 10L << 20;

    @Property(tries = 300)
    void collectNamesExactlyTheChunksMarkedSinceTheLastCollect(
            @ForAll @Size(max = 40) List<@LongRange(min = -4096, max = DISK + 4096) Long> offsets,
            @ForAll @Size(max = 40) List<@LongRange(min = -1, max = 1 << 20) Long> lengths) {
        DirtyChunks log = new DirtyChunks(DISK);
        TreeSet<Long> want = new TreeSet<>();
        for (int i = 0; i < Math.min(offsets.size(), lengths.size()); i++) {
            long off = offsets.get(i);
            long len = lengths.get(i);
            log.mark(off, len);
            if (len > 0 && off >= 0 && off < DISK) {
                for (long c = off / log.chunkSize(); c <= (Math.min(DISK, off + len) - 1) / log.chunkSize(); c++) {
                    want.add(c);
                }
            }
        }
        assertThat(log.count()).isEqualTo(want.size());
        DirtyChunks.Batch batch = log.collect();
        assertThat(batch.count()).isEqualTo(want.size());
        assertThat(chunks(batch)).containsExactlyElementsOf(want);
        assertThat(log.collect().count()).as("collected chunks are clear again").isZero();
        log.requeue(batch);
        assertThat(chunks(log.collect())).as("requeued").containsExactlyElementsOf(want);
    }

    @Test
    void chunksAre64KiBAndGrowOnlyToKeepTheBitmapBounded() {
        DirtyChunks small = new DirtyChunks(DISK);
        assertThat(small.chunkSize()).isEqualTo(64 << 10);
        assertThat(small.chunks()).isEqualTo(160);
        DirtyChunks odd = new DirtyChunks(DISK + 512);
        assertThat(odd.chunks()).isEqualTo(161);
        assertThat(odd.chunkLength(160)).as("the last chunk is short").isEqualTo(512);
        DirtyChunks huge = new DirtyChunks(1L << 50); // 1 PiB
        assertThat(huge.chunks()).isLessThanOrEqualTo(DirtyChunks.MAX_CHUNKS);
        assertThat(huge.chunkSize()).isEqualTo(1L << 26);
        assertThat(new DirtyChunks(0).collect().count()).isZero();
        assertThat(new DirtyChunks(0).collect().next(0)).isEqualTo(-1);
    }

    static List<Long> chunks(DirtyChunks.Batch batch) {
        List<Long> out = new java.util.ArrayList<>();
        batch.forEach(out::add);
        return out;
    }

    @Test
    void aBatchIsWalkedInOrderAndMarkAllCoversTheDisk() {
        DirtyChunks log = new DirtyChunks(DISK);
        log.mark(3 << 16, 1);
        log.mark(130L << 16, 1);
        DirtyChunks.Batch b = log.collect();
        assertThat(b.next(0)).isEqualTo(3);
        assertThat(b.next(4)).isEqualTo(130);
        assertThat(b.next(131)).isEqualTo(-1);
        assertThat(b.next(1000)).isEqualTo(-1);
        assertThat(b.next(1L << 38)).as("far past the bitmap, not wrapped back into it").isEqualTo(-1);
        assertThat(b.next(Long.MAX_VALUE)).isEqualTo(-1);
        log.markAll();
        assertThat(log.collect().count()).isEqualTo(160);
    }
}
