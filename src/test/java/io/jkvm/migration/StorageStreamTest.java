package io.jkvm.migration;

import io.jkvm.storage.LoggedDisk;
import io.jkvm.memory.GuestRam;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.storage.DirtyChunks;
import io.jkvm.storage.DiskConfig;
import io.jkvm.storage.DiskFormat;
import io.jkvm.storage.DiskImage;
import io.jkvm.storage.DiskImages;
import io.jkvm.storage.BackingPolicy;
import io.jkvm.storage.ImageCreator;
import io.jkvm.storage.RawImage;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Storage migration's stream without KVM: a raw source disk that a "guest" thread keeps writing
 * (through the image, then marking the write log, as virtio-blk does) while the bulk copy and the
 * rounds read it; the destination is a qcow2 image of this VMM's own, written through
 * {@link ReceivedDisks}. After the final round (the writer stopped: the pause), the destination
 * reads exactly as the source, which qemu-img, the qcow2 peer, confirms when it is installed.
 */
class StorageStreamTest {
    private static final long DISK = 8L << 20;
    private static final VmShape SHAPE = new VmShape(List.of(new VmShape.Disk("data", false, DISK)), List.of(), false, false);

    @TempDir
    Path dir;
    private GuestRam ram;

    @BeforeEach
    void ram() {
        ram = GuestRam.allocate(StreamFixture.RAM, io.jkvm.memory.RamBacking.PAGES);
    }

    @AfterEach
    void free() {
        ram.close();
    }

    private Path sourceDisk() throws Exception {
        Path src = dir.resolve("src.raw");
        byte[] content = new byte[(int) DISK];
        new Random(7).nextBytes(content);
        java.util.Arrays.fill(content, 1 << 20, 3 << 20, (byte) 0); // a zero range: sent as ZERO_BLOCKS
        Files.write(src, content);
        return src;
    }

    private Path destinationDisk() throws Exception {
        Path dst = dir.resolve("dst.qcow2");
        ImageCreator.create(new ImageCreator.Request(dst, DiskFormat.QCOW2, DISK, null, null, 0, false));
        return dst;
    }

    @Test
    void aDiskWrittenDuringTheCopyArrivesAsItIsAtThePause() throws Exception {
        Path src = sourceDisk();
        Path dst = destinationDisk();
        ByteArrayOutputStream wire = new ByteArrayOutputStream();
        AtomicInteger writes = new AtomicInteger();
        try (RawImage image = RawImage.open(src, false)) {
            DirtyChunks log = new DirtyChunks(DISK);
            LoggedDisk disk = new LoggedDisk(0, "data", image, log);
            AtomicBoolean paused = new AtomicBoolean();
            CountDownLatch writing = new CountDownLatch(50);
            Thread guest = Thread.ofPlatform().start(() -> {
                Random r = new Random(11);
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment block = a.allocate(8192);
                    while (!paused.get()) {
                        long sector = r.nextLong(DISK / 512 - 16);
                        int len = 512 * (1 + r.nextInt(16));
                        block.fill((byte) r.nextInt());
                        image.write(sector * 512, block.asSlice(0, len)); // as VirtioBlock: write, then mark
                        log.mark(sector * 512, len);
                        writes.incrementAndGet();
                        writing.countDown();
                    }
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            RecordWriter out = new RecordWriter(wire);
            out.header();
            out.config(StreamFixture.CONFIG, SHAPE, List.of(0));
            try (DiskSender sender = new DiskSender(out, () -> false)) {
                assertThat(writing.await(io.jkvm.testing.Patience.secondsOf(60), java.util.concurrent.TimeUnit.SECONDS))
                        .as("the writer thread is writing").isTrue();
                assertThat(sender.sendAll(disk)).isEqualTo(DISK);
                for (int round = 0; round < 3; round++) {
                    sender.send(disk, log.collect());
                    out.round(round, 0);
                }
                paused.set(true); // the pause: no more guest writes
                guest.join();
                sender.send(disk, log.collect());
            }
            out.kvmState(new byte[] {1});
            out.device(DeviceState.of("serial0", new byte[] {2}));
            out.empty(Wire.DONE);
            out.flush();
        }
        assertThat(writes.get()).isGreaterThanOrEqualTo(50);

        IncomingStream in;
        AtomicInteger checkpoints = new AtomicInteger();
        try (ReceivedDisks disks = ReceivedDisks.open(List.of(new DiskConfig(dst, false, "data", io.jkvm.resources.RateLimitConfig.UNLIMITED, DiskFormat.QCOW2)),
                List.of(0))) {
            in = new IncomingStream((c, shape, copied) -> {
                assertThat(copied).containsExactly(0);
                return ram.memory();
            }, new IncomingStream.DiskWriter() {
                public void write(int d, long offset, byte[] data) {
                    disks.write(d, offset, data);
                }

                public void zero(int d, long offset, long length) {
                    disks.zero(d, offset, length);
                }

                public void checkpoint() {
                    disks.flush();
                    checkpoints.incrementAndGet();
                }
            });
            RecordReader reader = new RecordReader(new ByteArrayInputStream(wire.toByteArray()));
            reader.header();
            while (!in.accept(reader.read(in))) {
                // next record
            }
            disks.finish();
        }
        assertThat(in.diskBytes()).isGreaterThanOrEqualTo(DISK);
        assertThat(checkpoints.get()).as("each round's contents made durable as it ended").isEqualTo(3);
        assertThat(virtualSha(dst, DiskFormat.QCOW2)).as("the destination reads as the source at the pause")
                .isEqualTo(virtualSha(src, DiskFormat.RAW));
        if (Files.isExecutable(Path.of("/usr/bin/qemu-img"))) {
            Process p = new ProcessBuilder("/usr/bin/qemu-img", "compare", "-f", "raw", "-F", "qcow2", src.toString(), dst.toString())
                    .redirectErrorStream(true).start();
            String said = new String(p.getInputStream().readAllBytes());
            assertThat(p.waitFor()).as("qemu-img compare: %s", said).isZero();
        }
    }

    /**
     * A long run of zeros goes as ZERO_BLOCKS of at most {@link Wire#MAX_ZERO_BLOCK_BYTES} each
     * (the destination's work per record stays bounded), then data joins into BLOCKS of at most
     * {@link Wire#MAX_BLOCK_BYTES}; together they cover the disk once, in order.
     */
    @Test
    void zeroRunsAndDataAreSplitAtTheWireLimits() throws Exception {
        long size = 2 * Wire.MAX_ZERO_BLOCK_BYTES + (3L << 20); // sparse: 128 MiB of zeros, then 3 MiB of data
        Path src = dir.resolve("sparse.raw");
        try (java.nio.channels.FileChannel f = java.nio.channels.FileChannel.open(src,
                java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE)) {
            byte[] data = new byte[3 << 20];
            new Random(11).nextBytes(data);
            f.write(java.nio.ByteBuffer.wrap(data), 2 * Wire.MAX_ZERO_BLOCK_BYTES);
        }
        ByteArrayOutputStream wire = new ByteArrayOutputStream();
        try (RawImage image = RawImage.open(src, true);
             DiskSender sender = new DiskSender(new RecordWriter(wire), () -> false)) {
            assertThat(sender.sendAll(new LoggedDisk(0, "data", image, new DirtyChunks(size)))).isEqualTo(size);
        }
        RecordReader reader = new RecordReader(new ByteArrayInputStream(wire.toByteArray()));
        List<MigrationRecord> records = new java.util.ArrayList<>();
        long at = 0;
        while (at < size) {
            MigrationRecord r = reader.read();
            records.add(r);
            switch (r) {
                case MigrationRecord.ZeroBlocks z -> {
                    assertThat(z.offset()).isEqualTo(at);
                    at += z.length();
                }
                case MigrationRecord.Blocks b -> {
                    assertThat(b.offset()).isEqualTo(at);
                    at += b.data().length;
                }
                default -> throw new AssertionError("unexpected " + r);
            }
        }
        assertThat(at).isEqualTo(size);
        assertThat(records).hasSize(5);
        assertThat(records.subList(0, 2)).allSatisfy(r -> assertThat(((MigrationRecord.ZeroBlocks) r).length())
                .isEqualTo(Wire.MAX_ZERO_BLOCK_BYTES));
        assertThat(records.subList(2, 5)).allSatisfy(r -> assertThat(((MigrationRecord.Blocks) r).data())
                .hasSize(Wire.MAX_BLOCK_BYTES));
    }

    @Test
    void aCancelledCopyLeavesTheSourceImageAsItWas() throws Exception {
        Path src = sourceDisk();
        String before = fileSha(src);
        AtomicInteger records = new AtomicInteger();
        try (RawImage image = RawImage.open(src, false);
             DiskSender sender = new DiskSender(new RecordWriter(new ByteArrayOutputStream()), () -> records.incrementAndGet() > 3)) {
            LoggedDisk disk = new LoggedDisk(0, "data", image, new DirtyChunks(DISK));
            assertThatThrownBy(() -> sender.sendAll(disk)).isInstanceOf(MigrationCancelledException.class);
        }
        assertThat(fileSha(src)).isEqualTo(before);
    }

    @Test
    void theDestinationTakesBlocksOnlyForDisksAnnouncedAsCopiedAndInsideThem() throws Exception {
        Path dst = destinationDisk();
        byte[] sector = new byte[512];
        assertRefused(StreamFixture.stream(w -> {
            w.config(StreamFixture.CONFIG, SHAPE, List.of());
            w.blocks(0, 0, sector, 0, 512);
        }), dst, "BLOCKS record: disk 0 is not one the source announced as copied []");
        assertRefused(StreamFixture.stream(w -> {
            w.config(StreamFixture.CONFIG, SHAPE, List.of(0));
            w.blocks(0, DISK, sector, 0, 512);
        }), dst, "BLOCKS record: range [8388608, +512) is outside disk 0 of 8388608 bytes");
        assertRefused(StreamFixture.stream(w -> {
            w.config(StreamFixture.CONFIG, SHAPE, List.of(0));
            w.zeroBlocks(0, 512, Long.MAX_VALUE - 1023);
        }), dst, "ZERO_BLOCKS record: length 9223372036854774784 outside 512..67108864");
        assertRefused(StreamFixture.stream(w -> {
            w.config(StreamFixture.CONFIG, SHAPE, List.of(0));
            w.zeroBlocks(0, DISK - 512, 1024);
        }), dst, "ZERO_BLOCKS record: range [8388096, +1024) is outside disk 0 of 8388608 bytes");
        assertRefused(StreamFixture.stream(w -> {
            w.config(StreamFixture.CONFIG, SHAPE, List.of(0));
            w.blocks(0, 100, sector, 0, 512);
        }), dst, "BLOCKS record: range [100, +512) is not whole 512-byte sectors");
        assertRefused(StreamFixture.stream(w -> w.config(StreamFixture.CONFIG, SHAPE, List.of(1))), dst,
                "CONFIG record: copied disk 1 is not one of the 1 disk(s) of the device shape");
        VmShape readOnly = new VmShape(List.of(new VmShape.Disk("data", true, DISK)), List.of(), false, false);
        assertRefused(StreamFixture.stream(w -> w.config(StreamFixture.CONFIG, readOnly, List.of(0))), dst,
                "CONFIG record: copied disk 0 is read-only (only writable disks are copied)");
        assertRefused(StreamFixture.stream(w -> {
            w.config(StreamFixture.CONFIG, SHAPE, List.of(0));
            w.kvmState(new byte[] {1});
            w.blocks(0, 0, sector, 0, 512);
        }), dst, "BLOCKS record out of order: expected DEVICE or DONE after KVM_STATE");
    }

    @Test
    void aDestinationDriveThatIsReadOnlyOrLockedIsRefusedNamingIt() throws Exception {
        Path dst = destinationDisk();
        assertThatThrownBy(() -> ReceivedDisks.open(List.of(new DiskConfig(dst, true, "data", io.jkvm.resources.RateLimitConfig.UNLIMITED, DiskFormat.QCOW2)), List.of(0)))
                .isInstanceOf(MigrationException.class).hasMessageContaining("drive 'data'").hasMessageContaining("is read-only here");
        try (DiskImage held = DiskImages.open(dst, DiskFormat.QCOW2, false, BackingPolicy.TOP_DIRECTORY)) {
            assertThatThrownBy(() -> ReceivedDisks.open(List.of(new DiskConfig(dst, false, "data", io.jkvm.resources.RateLimitConfig.UNLIMITED, DiskFormat.QCOW2)),
                    List.of(0))).isInstanceOf(MigrationException.class).hasMessageContaining("cannot receive the source's disk");
        }
    }

    @Test
    void aRoundWithNothingReceivedSinceTheLastFlushCostsNoFsync() throws Exception {
        Path dst = destinationDisk();
        try (ReceivedDisks disks = ReceivedDisks.open(List.of(new DiskConfig(dst, false, "data", io.jkvm.resources.RateLimitConfig.UNLIMITED, DiskFormat.QCOW2)),
                List.of(0))) {
            assertThat(disks.flush()).as("nothing received yet").isFalse();
            disks.write(0, 0, new byte[512]);
            assertThat(disks.flush()).as("a block received").isTrue();
            assertThat(disks.flush()).as("nothing since").isFalse();
            disks.zero(0, 4096, 4096);
            assertThat(disks.flush()).as("a range zeroed").isTrue();
        }
    }

    private void assertRefused(byte[] stream, Path dst, String message) throws Exception {
        try (ReceivedDisks disks = ReceivedDisks.open(List.of(new DiskConfig(dst, false, "data", io.jkvm.resources.RateLimitConfig.UNLIMITED, DiskFormat.QCOW2)),
                List.of(0))) {
            IncomingStream in = new IncomingStream((c, shape, copied) -> ram.memory(), new IncomingStream.DiskWriter() {
                public void write(int d, long offset, byte[] data) {
                    disks.write(d, offset, data);
                }

                public void zero(int d, long offset, long length) {
                    disks.zero(d, offset, length);
                }
            });
            RecordReader reader = new RecordReader(new ByteArrayInputStream(stream));
            reader.header();
            assertThatThrownBy(() -> {
                while (!in.accept(reader.read(in))) {
                    // next record
                }
            }).isInstanceOf(MigrationException.class).hasMessage(message);
        }
    }

    private static String virtualSha(Path file, DiskFormat format) throws Exception {
        try (DiskImage image = DiskImages.open(file, format, true, BackingPolicy.TOP_DIRECTORY)) {
            return virtualSha(image);
        }
    }

    /** SHA-256 of what the guest would read from {@code image}, front to back. */
    static String virtualSha(DiskImage image) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(1 << 20);
            for (long off = 0; off < image.size(); off += buf.byteSize()) {
                MemorySegment s = buf.asSlice(0, Math.min(buf.byteSize(), image.size() - off));
                image.read(off, s);
                md.update(s.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static String fileSha(Path file) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(file)));
    }
}
