package io.jkvm.migration;

import io.jkvm.storage.LoggedDisk;
import io.jkvm.snapshot.CounterGuest;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.MachineConfig;
import io.jkvm.storage.BackingPolicy;
import io.jkvm.storage.DirtyChunks;
import io.jkvm.storage.DiskConfig;
import io.jkvm.storage.DiskFormat;
import io.jkvm.storage.DiskImage;
import io.jkvm.storage.DiskImages;
import io.jkvm.storage.ImageCreator;
import io.jkvm.storage.RawImage;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.Patience;
import io.jkvm.vmm.Machine;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLServerSocket;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Direct-KVM live migration with storage: the counter guest's machine migrates over loopback TLS
 * with a raw disk that a "device" thread keeps writing (through the image, then the write log, as
 * virtio-blk does) until the pause; the destination's own qcow2 image ends up reading as the
 * source's did at the pause. A cancelled attempt leaves the source's image byte for byte as it
 * was, the source running and its write logs stopped.
 */
@Tag("kvm")
class StorageMigrationDirectTest {
    private static final long DISK = 4L << 20;
    /** Where the "guest" keeps writing: 4 chunks of 64 KiB in the middle of the disk. */
    private static final long HOT_START = (2L << 20) / 4096;
    private static final long HOT_BYTES = 256L << 10;
    private static final VmShape SHAPE = new VmShape(List.of(new VmShape.Disk("data", false, DISK)), List.of(), false, false);
    static TestPki pki;

    @TempDir
    static Path certs;
    @TempDir
    Path dir;

    @BeforeAll
    static void pki() throws Exception {
        pki = TestPki.create(certs);
    }

    @BeforeEach
    void kvm() {
        KvmAvailable.assume();
    }

    /** The counter guest's machine with one disk whose writes a thread makes until the pause. */
    private static final class DiskSource implements MigrationSource {
        final Machine machine;
        final RawImage image;
        final AtomicBoolean writing = new AtomicBoolean(true);
        final CountDownLatch someWrites = new CountDownLatch(20);
        volatile DirtyChunks log;
        volatile boolean stopped;
        volatile String shaAtPause;
        Thread writer;

        DiskSource(Machine machine, RawImage image) {
            this.machine = machine;
            this.image = image;
        }

        void startWriting() {
            writer = Thread.ofPlatform().start(() -> {
                Random r = new Random(3);
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment block = a.allocate(4096);
                    while (writing.get()) {
                        // A busy region of the disk, as a guest's journal or database has: a few
                        // chunks rewritten over and over while the rest was copied once. Paced
                        // like a device, so the migration thread gets the CPU of a slow host too.
                        long at = (HOT_START + r.nextLong(HOT_BYTES / 4096)) * 4096;
                        block.fill((byte) r.nextInt());
                        image.write(at, block);
                        DirtyChunks l = log;
                        if (l != null) {
                            l.mark(at, 4096);
                        }
                        someWrites.countDown();
                        java.util.concurrent.locks.LockSupport.parkNanos(2_000_000);
                    }
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
        }

        public Machine machine() {
            return machine;
        }

        public void pause() throws InterruptedException {
            machine.pause();
            writing.set(false); // the device drained: nothing writes the disk from here
            if (writer != null) {
                writer.join();
            }
            shaAtPause = virtualSha(image);
        }


        public void resume() {
            machine.resume();
        }

        public List<DeviceState> deviceStates() {
            return List.of();
        }

        public void migratedAway() {
            machine.requestStop(io.jkvm.vmm.StopReason.STOPPED, "migrated");
        }

        @Override
        public VmShape shape() {
            return SHAPE;
        }

        @Override
        public List<LoggedDisk> startCopying(List<String> ids) {
            assertThat(ids).containsExactly("data");
            log = new DirtyChunks(DISK);
            return List.of(new LoggedDisk(0, "data", image, log));
        }

        @Override
        public void stopCopying() {
            stopped = true;
            log = null;
        }
    }

    private Path sourceDisk() throws Exception {
        byte[] content = new byte[(int) DISK];
        new Random(5).nextBytes(content);
        java.util.Arrays.fill(content, 0, 1 << 20, (byte) 0);
        return Files.write(dir.resolve("source.raw"), content);
    }

    @Test
    void aDiskWrittenUntilThePauseArrivesInTheDestinationsOwnImage() throws Exception {
        Path src = sourceDisk();
        Path dst = dir.resolve("destination.qcow2");
        ImageCreator.create(new ImageCreator.Request(dst, DiskFormat.QCOW2, DISK, null, null, 0, false));
        try (MigrationDirectTest.Source vm = MigrationDirectTest.Source.start(CounterGuest.RAM);
             RawImage image = RawImage.open(src, false);
             SSLServerSocket server = pki.destination.listen(new MigrationAddress("127.0.0.1", 0))) {
            CompletableFuture<IncomingMigration.Result> in = CompletableFuture.supplyAsync(() -> {
                try {
                    return IncomingMigration.receive(server, (c, shape) -> {
                        assertThat(shape).isEqualTo(SHAPE);
                        return DiskReceivingTarget.into(new MigrationDirectTest.Target(c, shape), List.of(new DiskConfig(dst,
                                false, "data", io.jkvm.resources.RateLimitConfig.UNLIMITED, DiskFormat.QCOW2)));
                    });
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            DiskSource source = new DiskSource(vm.machine(), image);
            source.startWriting();
            assertThat(source.someWrites.await(Patience.secondsOf(30), TimeUnit.SECONDS)).isTrue();
            OutgoingMigration out = new OutgoingMigration(source, new MigrationAddress("127.0.0.1", server.getLocalPort()),
                    pki.source, new Convergence(300), List.of("data"));
            out.run();
            MigrationReport r = out.status();
            System.out.println(r.summary());
            assertThat(r.status()).as(r.summary()).isEqualTo(MigrationReport.Status.COMPLETED);
            assertThat(r.diskBytes()).as("the bulk copy and the rewritten chunks").isGreaterThanOrEqualTo(DISK);
            assertThat(source.stopped).as("the write log ends with the migration").isTrue();
            IncomingMigration.Result result = in.get(Patience.secondsOf(60), TimeUnit.SECONDS);
            try (MigrationTarget received = result.target()) {
                MigrationDirectTest.Target t = (MigrationDirectTest.Target) ((DiskReceivingTarget) received).inner();
                assertThat(t.progress.awaitAtLeast(t.counterBeforeStart + 3, MigrationDirectTest.WAIT)).isTrue();
                try (DiskImage copy = DiskImages.open(dst, DiskFormat.QCOW2, true, BackingPolicy.TOP_DIRECTORY)) {
                    assertThat(virtualSha(copy)).as("the destination's image reads as the source's at the pause")
                            .isEqualTo(source.shaAtPause);
                }
            }
        }
    }

    @Test
    void aCancelledStorageMigrationLeavesTheSourceImageAsItWasAndTheVmRunning() throws Exception {
        Path src = sourceDisk();
        String before = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(src)));
        try (MigrationDirectTest.Source vm = MigrationDirectTest.Source.start(CounterGuest.RAM);
             RawImage image = RawImage.open(src, false);
             SSLServerSocket server = pki.destination.listen(new MigrationAddress("127.0.0.1", 0))) {
            CountDownLatch copying = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            CompletableFuture<Void> dest = MigrationDirectTest.fake(server, (s, in, out) -> {
                out.empty(Wire.READY);
                out.flush();
                assertThat(in.read()).isInstanceOfAny(MigrationRecord.Blocks.class, MigrationRecord.ZeroBlocks.class);
                copying.countDown();
                release.await(Patience.secondsOf(60), TimeUnit.SECONDS); // reads nothing more: the copy stalls
            });
            DiskSource source = new DiskSource(vm.machine(), image);
            OutgoingMigration out = new OutgoingMigration(source, new MigrationAddress("127.0.0.1", server.getLocalPort()),
                    pki.source, new Convergence(300), List.of("data")).start();
            try {
                assertThat(copying.await(Patience.secondsOf(60), TimeUnit.SECONDS)).isTrue();
                assertThat(out.cancel()).isTrue();
                assertThat(out.awaitEnd(Patience.seconds(30))).as("cancel ends the migration").isTrue();
            } finally {
                release.countDown(); // the fake destination ends now, whatever failed above
            }
            MigrationReport r = out.status();
            System.out.println(r.summary());
            assertThat(r.status()).isEqualTo(MigrationReport.Status.CANCELLED);
            assertThat(source.stopped).as("the write log is stopped").isTrue();
            MigrationDirectTest.assertRunsOnAsBefore(vm);
            assertThat(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(src))))
                    .as("the source's image is untouched").isEqualTo(before);
            dest.handle((v, e) -> null).get(Patience.secondsOf(30), TimeUnit.SECONDS);
        }
    }

    static String virtualSha(DiskImage image) {
        try {
            return StorageStreamTest.virtualSha(image);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
