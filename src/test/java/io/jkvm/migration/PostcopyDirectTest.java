package io.jkvm.migration;

import io.jkvm.snapshot.CounterGuest;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.KvmSection;
import io.jkvm.snapshot.MachineConfig;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.Patience;
import io.jkvm.vmm.Machine;
import io.jkvm.vmm.MachineExit;
import io.jkvm.vmm.StopReason;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLServerSocket;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Post-copy between two machines in this JVM over loopback TLS. A stand-in device thread dirties
 * 8 MiB of guest RAM without pause, faster than any link: with post-copy asked for, pre-copy
 * stops as soon as a round does not shrink (no throttling), the destination starts at once and
 * fetches the chunks still dirty as its vCPU and its Java code touch them, and what arrives is
 * what the source held at the pause. A connection lost after the switch stops the VM at
 * whichever end noticed, saying the guest cannot go on, instead of running on stale or missing
 * memory.
 */
@Tag("kvm")
class PostcopyDirectTest {
    static final long WAIT = Patience.seconds(60).toNanos();
    static final long RAM = 16L << 20;
    /** The device thread's range: above the counter guest's code and buffer. */
    static final long DIRTY_FROM = 8L << 20;
    static TestPki pki;

    @TempDir
    static Path certs;

    @BeforeAll
    static void pki() throws Exception {
        pki = TestPki.create(certs);
    }

    @BeforeEach
    void kvm() {
        KvmAvailable.assume();
    }

    /** The destination: nothing read in Java code before the start but the counter (one chunk, fetched on touch). */
    static final class Target implements MigrationTarget {
        final Machine machine;
        final CounterGuest.Progress progress = new CounterGuest.Progress();
        volatile int counterBeforeStart;

        Target(MachineConfig c, VmShape shape) {
            machine = Machine.create(c.toOptions());
            machine.pio().register(CounterGuest.PORT, 4, progress);
        }

        public Machine machine() {
            return machine;
        }

        public void restoreDevices(List<DeviceState> devices) {
            counterBeforeStart = machine.memory().readInt(CounterGuest.COUNTER);
        }

        public void start() {
            machine.start();
        }

        public void close() {
            machine.close();
        }
    }

    /** A source whose "device" keeps rewriting [8 MiB, 16 MiB) until the pause, and records that range then. */
    static final class DirtyingSource implements MigrationSource, AutoCloseable {
        final MigrationDirectTest.Source src = MigrationDirectTest.Source.start(RAM);
        final Machine m = src.machine();
        final AtomicBoolean stop = new AtomicBoolean();
        final AtomicReference<String> dirtyRangeAtPause = new AtomicReference<>();
        final AtomicReference<Integer> counterAtPause = new AtomicReference<>();
        final Thread device = Thread.ofPlatform().start(() -> {
            for (long seq = 1; !stop.get(); seq++) {
                for (long gpa = DIRTY_FROM; gpa < RAM; gpa += 4096) {
                    m.memory().writeLong(gpa, seq);
                }
            }
        });

        public Machine machine() {
            return m;
        }

        public void pause() throws InterruptedException {
            m.pause();
            stopDevice();
        }

        void stopDevice() throws InterruptedException {
            stop.set(true);
            device.join();
        }

        public void resume() {
            m.resume();
        }

        public List<DeviceState> deviceStates() {
            dirtyRangeAtPause.set(digest(m, DIRTY_FROM, RAM));
            counterAtPause.set(m.memory().readInt(CounterGuest.COUNTER));
            return List.of(DeviceState.of("fake0", new byte[] {1}));
        }

        public void migratedAway() {
            m.requestStop(StopReason.STOPPED, "migrated");
        }

        @Override
        public void close() {
            try {
                stopDevice();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                src.close();
            }
        }
    }

    /** SHA-256 of guest RAM [from, to), read page by page through GuestMemory (present pages only once a fill ended). */
    static String digest(Machine m, long from, long to) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            for (long gpa = from; gpa < to; gpa += 4096) {
                d.update(m.memory().read(gpa, 4096));
            }
            return HexFormat.of().formatHex(d.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static CompletableFuture<IncomingMigration.Result> receive(SSLServerSocket server) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                return IncomingMigration.receive(server, Target::new);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }

    @Test
    void aGuestDirtyingFasterThanTheLinkMigratesWithPostcopy() throws Exception {
        try (DirtyingSource source = new DirtyingSource();
             SSLServerSocket server = pki.destination.listen(new MigrationAddress("127.0.0.1", 0))) {
            CompletableFuture<IncomingMigration.Result> in = receive(server);
            OutgoingMigration out = new OutgoingMigration(source, new MigrationAddress("127.0.0.1", server.getLocalPort()),
                    pki.source, new Convergence(1, true));
            out.run();
            MigrationReport r = out.status();
            System.out.println(r.summary());
            assertThat(r.status()).as(r.summary()).isEqualTo(MigrationReport.Status.COMPLETED);
            assertThat(r.throttlePercent()).as("post-copy instead of throttling").isZero();
            assertThat(r.rounds()).isLessThan(Convergence.MAX_ROUNDS);
            assertThat(r.finalPages()).as("the device's pages were dirty at the pause").isGreaterThanOrEqualTo(2048);
            assertThat(r.postcopyChunks()).as("8 MiB in 64 KiB chunks, at least").isGreaterThanOrEqualTo(128);
            assertThat(r.postcopySent()).isEqualTo(r.postcopyChunks());
            assertThat(source.m.awaitExit(Patience.seconds(30))).as("the source stops once the destination has it all")
                    .isNotNull();

            IncomingMigration.Result result = in.get(Patience.secondsOf(60), TimeUnit.SECONDS);
            try (Target t = (Target) result.target()) {
                assertThat(result.postcopy()).isNotNull();
                assertThat(result.postcopy().awaitFilled(Patience.seconds(60))).as("every chunk arrived").isTrue();
                assertThat(t.counterBeforeStart).isEqualTo(source.counterAtPause.get());
                int at = source.counterAtPause.get();
                // The guest's buffer was dirty at the pause: the vCPU faulted on it inside KVM_RUN.
                assertThat(t.progress.awaitAtLeast(at + 3, WAIT)).as("counter advances on the destination").isTrue();
                assertThat(t.progress.first.get()).as("the first pass reported there continues the source's")
                        .isEqualTo(at + 1);
                t.machine.pause();
                assertThat(CounterGuest.patternProblem(t.machine.memory(), t.machine.memory().readInt(CounterGuest.COUNTER)))
                        .isNull();
                assertThat(digest(t.machine, DIRTY_FROM, RAM)).as("the device's pages as the source held them at the pause")
                        .isEqualTo(source.dirtyRangeAtPause.get());
            }
        }
    }

    @Test
    void aConnectionLostAfterTheSwitchStopsTheSourceSayingTheGuestIsLost() throws Exception {
        try (DirtyingSource source = new DirtyingSource();
             SSLServerSocket server = pki.destination.listen(new MigrationAddress("127.0.0.1", 0))) {
            AtomicBoolean sawSwitch = new AtomicBoolean();
            CompletableFuture<Void> dest = MigrationDirectTest.fake(server, (s, in, out) -> {
                out.empty(Wire.READY);
                out.flush();
                for (MigrationRecord r = in.read(); !(r instanceof MigrationRecord.Done); r = in.read()) {
                    sawSwitch.compareAndSet(false, r instanceof MigrationRecord.Postcopy);
                }
                out.empty(Wire.RESUMED); // "the VM runs here" -- and then this destination is gone
                out.flush();
            });
            OutgoingMigration out = new OutgoingMigration(source, new MigrationAddress("127.0.0.1", server.getLocalPort()),
                    pki.source, new Convergence(1, true));
            out.run();
            dest.get(Patience.secondsOf(30), TimeUnit.SECONDS);
            MigrationReport r = out.status();
            System.out.println(r.summary());
            assertThat(sawSwitch).isTrue();
            assertThat(r.status()).isEqualTo(MigrationReport.Status.FAILED);
            assertThat(r.phase()).isEqualTo("lost");
            assertThat(r.error()).contains("post-copy broke after the VM started at the destination")
                    .contains("the guest cannot go on at either end");
            MachineExit exit = source.m.awaitExit(Patience.seconds(30));
            assertThat(exit).as("not resumed here: its state at the destination has moved on").isNotNull();
            assertThat(exit.reason()).isEqualTo(StopReason.ERROR);
            assertThat(exit.detail()).contains("cannot go on at either end");
        }
    }

    @Test
    void aSourceLostAfterTheSwitchStopsTheDestinationSayingWhy() throws Exception {
        try (MigrationDirectTest.Source src = MigrationDirectTest.Source.start(RAM);
             SSLServerSocket server = pki.destination.listen(new MigrationAddress("127.0.0.1", 0))) {
            CompletableFuture<IncomingMigration.Result> in = receive(server);
            Machine m = src.machine();
            m.pause();
            // A stand-in source: everything left for post-copy, a few chunks served, then gone.
            try (MigrationTls.Connection c = pki.source.open(new MigrationAddress("127.0.0.1", server.getLocalPort()),
                    (int) Patience.seconds(60).toMillis())) {
                RecordWriter w = new RecordWriter(c.tls().getOutputStream());
                RecordReader rd = new RecordReader(c.tls().getInputStream());
                w.header(4);
                w.config(MachineConfig.of(m.options()), null, List.of(), true);
                w.flush();
                assertThat(rd.read()).isEqualTo(new MigrationRecord.Ready());
                long[] all = new long[(int) (RAM / Wire.PAGE)];
                for (int i = 0; i < all.length; i++) {
                    all[i] = (long) i * Wire.PAGE;
                }
                PostcopySender sender = PostcopySender.of(m.memory(), all, w);
                sender.announce();
                w.kvmState(KvmSection.capture(m));
                w.empty(Wire.DONE);
                w.flush();
                // The fill asks for one chunk at a time: answered up to the counter's, which the
                // destination reads before it starts; the next request stays unanswered.
                int counterChunk = io.jkvm.memory.RamChunks.of(m.memory(), Wire.POSTCOPY_CHUNK).indexOf(CounterGuest.COUNTER);
                boolean counterSent = false;
                for (MigrationRecord r = rd.read(); !(r instanceof MigrationRecord.Resumed); r = rd.read()) {
                    int chunk = ((MigrationRecord.Request) r).index();
                    if (!counterSent) {
                        sender.send(chunk);
                        counterSent = chunk == counterChunk;
                    }
                }
                assertThat(counterSent).isTrue();
                assertThat(sender.sent()).isLessThan(sender.missing());
            }
            IncomingMigration.Result result = in.get(Patience.secondsOf(60), TimeUnit.SECONDS);
            try (Target t = (Target) result.target()) {
                MachineExit exit = t.machine.awaitExit(Patience.seconds(60));
                assertThat(exit).as("the destination cannot run without the RAM still at the source").isNotNull();
                assertThat(exit.reason()).isEqualTo(StopReason.ERROR);
                assertThat(exit.detail()).startsWith("post-copy: ").contains("never arrived from the source")
                        .contains("the guest cannot go on here");
                assertThat(result.postcopy().awaitFilled(Patience.seconds(30))).isFalse();
                assertThat(result.postcopy().failure()).hasMessage(exit.detail());
            }
        }
    }
}
