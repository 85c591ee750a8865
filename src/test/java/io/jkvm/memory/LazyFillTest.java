package io.jkvm.memory;

import io.jkvm.kvm.Native;
import io.jkvm.kvm.NativeException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Guest RAM filled on first touch through a real userfaultfd, no KVM: this thread's reads through
 * {@link GuestMemory} are brought in by the fill thread from a pattern source. (A bound on each
 * test: a fill that never answers would otherwise hang the run.)
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class LazyFillTest {
    static final int CHUNK = 64 << 10;
    /** Two regions would need 3 GiB; one region with a short last chunk is what matters here. */
    static final long RAM = 16L * CHUNK + 12 * 4096;

    @BeforeAll
    static void userfaultfdUsable() {
        try {
            UserFaultFd.open().close();
        } catch (NativeException e) {
            assumeTrue(false, "no usable " + UserFaultFd.DEVICE + " on this host: " + e.getMessage());
        }
    }

    /** Chunk {@code i}'s long at offset {@code off}. */
    static long pattern(int i, long off) {
        return (i + 1) * 0x9e3779b97f4a7c15L ^ off;
    }

    static void fillPattern(int index, MemorySegment into) {
        for (long off = 0; off < into.byteSize(); off += 8) {
            into.set(ValueLayout.JAVA_LONG, off, pattern(index, off));
        }
    }

    @Test
    void everyChunkReadsAsTheSourceGaveItAndTheFillEnds() throws Exception {
        AtomicInteger reads = new AtomicInteger();
        AtomicBoolean closed = new AtomicBoolean();
        try (GuestRam ram = GuestRam.allocate(RAM, RamBacking.PAGES)) {
            GuestMemory mem = ram.memory();
            LazyFill.ChunkSource source = new LazyFill.ChunkSource() {
                @Override
                public void read(int index, MemorySegment into) {
                    reads.incrementAndGet();
                    fillPattern(index, into);
                }

                @Override
                public void close() {
                    closed.set(true);
                }
            };
            LazyFill fill = ram.fillLazily(CHUNK, source, true, e -> { });
            // Touch the last (short) chunk first, then a page in the middle of chunk 5: whoever
            // gets there first (this thread's touch or the fill running ahead) fills them.
            long lastChunk = 16L * CHUNK;
            assertThat(mem.readLong(lastChunk + 8 * 4096 + 16)).isEqualTo(pattern(16, 8 * 4096 + 16));
            assertThat(mem.readLong(5L * CHUNK + 4096)).isEqualTo(pattern(5, 4096));
            mem.writeLong(7L * CHUNK, 42L); // a write brings the chunk in too, then writes
            assertThat(fill.awaitFilled(Duration.ofMinutes(1))).isTrue();
            mem.awaitPresent();
            assertThat(fill.failure()).isNull();
            assertThat(reads.get()).as("each chunk read once").isEqualTo(17);
            assertThat(fill.faultFills() + fill.prefetchFills()).isEqualTo(17);
            assertThat(closed).as("the source is closed when the fill ends").isTrue();
            for (int i = 0; i <= 16; i++) {
                long size = i < 16 ? CHUNK : 12 * 4096;
                for (long off = 0; off < size; off += 4096) {
                    long want = i == 7 && off == 0 ? 42L : pattern(i, off);
                    assertThat(mem.readLong((long) i * CHUNK + off)).as("chunk %d +%d", i, off).isEqualTo(want);
                }
            }
            // Unregistered now: a page given back reads as zeros, as ordinary anonymous memory.
            Native.madvise(mem.slice(3L * CHUNK, 4096), Native.MADV_DONTNEED);
            assertThat(mem.readLong(3L * CHUNK)).isZero();
        }
    }

    @Test
    void chunksAreFoundByRegionWhateverTheHostOrderOfTheRegions() throws Exception {
        // One mapping cut in two: guest RAM at 0 is its upper half, RAM at 4 GiB its lower half,
        // so host addresses run opposite to guest addresses (as two mmaps often do).
        MemorySegment map = Native.mmap(0, 4L * CHUNK, Native.PROT_READ | Native.PROT_WRITE,
                Native.MAP_PRIVATE | Native.MAP_ANONYMOUS | Native.MAP_NORESERVE, -1, 0);
        try {
            GuestMemory mem = new GuestMemory(List.of(new GuestMemory.Region(0, map.asSlice(2L * CHUNK, 2L * CHUNK)),
                    new GuestMemory.Region(1L << 32, map.asSlice(0, 2L * CHUNK))));
            LazyFill fill = LazyFill.start(mem, CHUNK, LazyFillTest::fillPattern, false, e -> { });
            try {
                // Chunks are numbered region after region in guest order: 0-1 at 0, 2-3 at 4 GiB.
                assertThat(mem.readLong((1L << 32) + CHUNK + 64)).isEqualTo(pattern(3, 64));
                assertThat(mem.readLong(8)).isEqualTo(pattern(0, 8));
                assertThat(fill.chunkOf(map.address() + CHUNK + 5)).isEqualTo(3);
                assertThat(fill.chunkOf(map.address() + 2L * CHUNK)).isEqualTo(0);
                assertThat(fill.chunkOf(map.address() + 4L * CHUNK)).isEqualTo(-1);
                assertThat(fill.faultFills()).isEqualTo(2);
                assertThat(fill.prefetchFills()).as("nothing ahead without ahead").isZero();
            } finally {
                fill.stop();
            }
        } finally {
            Native.munmap(map);
        }
    }

    @Test
    void aJavaThreadWaitingForAChunkDoesNotHoldUpAGarbageCollection() throws Exception {
        // A thread that took the fault inside Java code would never reach the safepoint a GC
        // needs; GuestMemory makes it wait in a system call instead (LazyFill#prefault).
        java.util.concurrent.CountDownLatch sourceEntered = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        try (GuestRam ram = GuestRam.allocate(RAM, RamBacking.PAGES)) {
            GuestMemory mem = ram.memory();
            ram.fillLazily(CHUNK, (index, into) -> {
                sourceEntered.countDown();
                release.await();
                fillPattern(index, into);
            }, false, e -> { });
            CompletableFuture<Long> reader = CompletableFuture.supplyAsync(() -> mem.readLong(2L * CHUNK + 16));
            assertThat(sourceEntered.await(1, TimeUnit.MINUTES)).as("the reader's touch reached the source").isTrue();
            System.gc(); // a safepoint with the reader waiting for its chunk: returns (the class's timeout otherwise)
            release.countDown();
            assertThat(reader.get(1, TimeUnit.MINUTES)).isEqualTo(pattern(2, 16));
        }
    }

    @Test
    void aRefusedChunkReportsWhyAndItsRamFailsOnAccessInsteadOfReadingZeros() throws Exception {
        CompletableFuture<Exception> reported = new CompletableFuture<>();
        try (GuestRam ram = GuestRam.allocate(RAM, RamBacking.PAGES)) {
            GuestMemory mem = ram.memory();
            LazyFill fill = ram.fillLazily(CHUNK, (index, into) -> {
                if (index == 3) {
                    throw new IllegalStateException("chunk 3 failed its check");
                }
                fillPattern(index, into);
            }, true, reported::complete);
            assertThat(mem.readLong(4096)).isEqualTo(pattern(0, 4096));
            // The fill runs ahead into chunk 3 on its own (nothing here touches chunk 3 or later).
            Exception e = reported.get(1, TimeUnit.MINUTES);
            assertThat(e).hasMessage("chunk 3 failed its check");
            assertThat(fill.failure()).isSameAs(e);
            assertThat(fill.awaitFilled(Duration.ofMinutes(1))).as("the fill ended, not filled").isFalse();
            assertThatThrownBy(mem::awaitPresent).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("chunk 3 failed its check");
            assertThat(mem.readLong(2L * CHUNK + 8)).as("chunks filled before the failure stay readable")
                    .isEqualTo(pattern(2, 8));
            // The refused chunk and those after it fail on access: never zeros in place of the data.
            for (long at : new long[] {3L * CHUNK, 9L * CHUNK + 4096, 16L * CHUNK}) {
                assertThatThrownBy(() -> mem.readLong(at)).as("read at +%d", at).isInstanceOf(InternalError.class);
            }
        }
    }
}
