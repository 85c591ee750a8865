package io.jkvm.migration;

import io.jkvm.testing.Patience;
import io.jkvm.snapshot.CounterGuest;
import io.jkvm.snapshot.DeviceState;
import io.jkvm.snapshot.MachineConfig;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.TestGuest;
import io.jkvm.vmm.Machine;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.SSLServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Direct-KVM migration of the counter guest between two machines in this JVM over loopback TLS:
 * the guest's pattern goes on at the destination from where it stopped, RAM matches at the pause,
 * and failed or cancelled migrations leave the source running.
 */
@Tag("kvm")
class MigrationDirectTest {
    static final long WAIT = Patience.seconds(60).toNanos();
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

    /** A source machine running the counter guest, with its progress port. */
    public record Source(Machine machine, CounterGuest.Progress progress) implements AutoCloseable {
        public static Source start(long ram) {
            Machine m = Machine.create(new Machine.Options(1, ram, true, io.jkvm.memory.RamBacking.PAGES));
            CounterGuest.Progress p = new CounterGuest.Progress();
            m.pio().register(CounterGuest.PORT, 4, p);
            m.vcpus().getFirst().setCpuid(m.kvm().supportedCpuid());
            TestGuest.startProtectedMode(m.vcpus().getFirst(), m.memory(), CounterGuest.code(), CounterGuest.ORIGIN);
            m.start();
            assertThat(p.awaitAtLeast(2, WAIT)).as("source guest reports progress").isTrue();
            return new Source(m, p);
        }

        @Override
        public void close() {
            machine.close();
        }
    }

    /** Destination target: a fresh machine with the progress port; records RAM's checksum before it starts. */
    public static final class Target implements MigrationTarget {
        final Machine machine;
        final CounterGuest.Progress progress = new CounterGuest.Progress();
        volatile String checksumBeforeStart;
        volatile int counterBeforeStart;

        Target(MachineConfig c, VmShape shape) {
            machine = Machine.create(c.toOptions());
            machine.pio().register(CounterGuest.PORT, 4, progress);
        }

        public Machine machine() {
            return machine;
        }

        public void restoreDevices(List<DeviceState> devices) {
            checksumBeforeStart = CounterGuest.checksum(machine.memory());
            counterBeforeStart = machine.memory().readInt(CounterGuest.COUNTER);
        }

        public void start() {
            machine.start();
        }

        public void close() {
            machine.close();
        }
    }

    @Test
    void theCounterGuestContinuesOnTheDestination() throws Exception {
        AtomicReference<String> sourceChecksum = new AtomicReference<>();
        AtomicReference<Integer> sourceCounter = new AtomicReference<>();
        try (Source src = Source.start(CounterGuest.RAM);
             SSLServerSocket server = pki.destination.listen(new MigrationAddress("127.0.0.1", 0))) {
            CompletableFuture<IncomingMigration.Result> in = CompletableFuture.supplyAsync(() -> {
                try {
                    return IncomingMigration.receive(server, Target::new);
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            Machine m = src.machine();
            MigrationSource source = MigrationSource.of(m, () -> {
                // Called paused: this is the memory the destination must end up with.
                sourceChecksum.set(CounterGuest.checksum(m.memory()));
                sourceCounter.set(m.memory().readInt(CounterGuest.COUNTER));
                return List.of();
            });
            OutgoingMigration out = new OutgoingMigration(source,
                    new MigrationAddress("127.0.0.1", server.getLocalPort()), pki.source, new Convergence(300));
            out.run();
            MigrationReport r = out.status();
            System.out.println(r.summary());
            assertThat(r.status()).as(r.summary()).isEqualTo(MigrationReport.Status.COMPLETED);
            assertThat(r.rounds()).isGreaterThanOrEqualTo(1);
            assertThat(r.downtimeMillis()).isGreaterThanOrEqualTo(0).isLessThan(r.totalMillis() + 1);
            assertThat(r.bytes()).isGreaterThan(0);
            assertThat(m.awaitExit(Patience.seconds(30))).as("source stops after the destination resumed").isNotNull();

            IncomingMigration.Result result = in.get(Patience.secondsOf(60), TimeUnit.SECONDS);
            try (Target t = (Target) result.target()) {
                assertThat(t.checksumBeforeStart).as("destination RAM equals source RAM at the pause")
                        .isEqualTo(sourceChecksum.get());
                assertThat(t.counterBeforeStart).isEqualTo(sourceCounter.get());
                int at = sourceCounter.get();
                assertThat(t.progress.awaitAtLeast(at + 3, WAIT)).as("counter advances on the destination").isTrue();
                assertThat(t.progress.first.get()).as("the first pass reported there continues the source's")
                        .isEqualTo(at + 1);
                t.machine.pause();
                int c = t.machine.memory().readInt(CounterGuest.COUNTER);
                assertThat(CounterGuest.patternProblem(t.machine.memory(), c)).isNull();
            }
        }
    }

    /** Runs {@code body} as a stand-in destination on the accepted, handshaken connection. */
    interface FakeDestination {
        void serve(javax.net.ssl.SSLSocket s, RecordReader in, RecordWriter out) throws Exception;
    }

    static CompletableFuture<Void> fake(SSLServerSocket server, FakeDestination body) {
        return CompletableFuture.runAsync(() -> {
            try (javax.net.ssl.SSLSocket s = (javax.net.ssl.SSLSocket) server.accept()) {
                s.startHandshake();
                RecordReader in = new RecordReader(s.getInputStream());
                RecordWriter out = new RecordWriter(s.getOutputStream());
                in.header();
                assertThat(in.read()).isInstanceOf(MigrationRecord.Config.class);
                body.serve(s, in, out);
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
    }

    /** After a failed migration: running, not paused, counting, dirty logging off. */
    public static void assertRunsOnAsBefore(Source src) {
        Machine m = src.machine();
        assertThat(m.isPaused()).isFalse();
        assertThat(m.throttle()).isZero();
        int now = src.progress().last.get();
        assertThat(src.progress().awaitAtLeast(now + 3, WAIT)).as("source counter advances after the failure").isTrue();
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            // KVM_GET_DIRTY_LOG fails (ENOENT) on a slot without KVM_MEM_LOG_DIRTY_PAGES: logging is off again.
            var bitmap = a.allocate(m.memory().regions().getFirst().size() / 4096 / 8 + 8, 8);
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> m.vm().getDirtyLog(0, bitmap))
                    .hasMessageContaining("KVM_GET_DIRTY_LOG");
        }
    }

    @Test
    void aDestinationDyingMidwayLeavesTheSourceRunning() throws Exception {
        try (Source src = Source.start(64L << 20);
             SSLServerSocket server = pki.destination.listen(new MigrationAddress("127.0.0.1", 0))) {
            // Non-zero RAM, so round 0 is still streaming when the destination goes away.
            for (long a = 1 << 20; a < 48L << 20; a += 4096) {
                src.machine().memory().writeLong(a, a);
            }
            CompletableFuture<Void> dest = fake(server, (s, in, out) -> {
                out.empty(Wire.READY);
                out.flush();
                in.read();
                in.read();
                // and dies: the connection closes mid-stream
            });
            OutgoingMigration out = new OutgoingMigration(MigrationSource.of(src.machine(), List::of),
                    new MigrationAddress("127.0.0.1", server.getLocalPort()), pki.source, new Convergence(300));
            out.run();
            dest.get(Patience.secondsOf(30), TimeUnit.SECONDS);
            MigrationReport r = out.status();
            System.out.println(r.summary());
            assertThat(r.status()).isEqualTo(MigrationReport.Status.FAILED);
            assertThat(r.error()).isNotBlank();
            assertRunsOnAsBefore(src);
        }
    }

    @Test
    void cancelWhileTheDestinationStallsLeavesTheSourceRunning() throws Exception {
        try (Source src = Source.start(CounterGuest.RAM);
             SSLServerSocket server = pki.destination.listen(new MigrationAddress("127.0.0.1", 0))) {
            java.util.concurrent.CountDownLatch gotConfig = new java.util.concurrent.CountDownLatch(1);
            java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
            CompletableFuture<Void> dest = fake(server, (s, in, out) -> {
                gotConfig.countDown();
                release.await(Patience.secondsOf(60), TimeUnit.SECONDS); // never answers READY until the test is over
            });
            OutgoingMigration out = new OutgoingMigration(MigrationSource.of(src.machine(), List::of),
                    new MigrationAddress("127.0.0.1", server.getLocalPort()), pki.source, new Convergence(300)).start();
            assertThat(gotConfig.await(Patience.secondsOf(60), TimeUnit.SECONDS)).isTrue();
            assertThat(out.cancel()).isTrue();
            assertThat(out.awaitEnd(Patience.seconds(30))).as("cancel ends the migration").isTrue();
            release.countDown();
            MigrationReport r = out.status();
            System.out.println(r.summary());
            assertThat(r.status()).isEqualTo(MigrationReport.Status.CANCELLED);
            assertThat(out.cancel()).as("a finished migration cannot be cancelled").isFalse();
            src.machine().resume(); // harmless: it was never paused
            assertThat(src.machine().isPaused()).isFalse();
            int now = src.progress().last.get();
            assertThat(src.progress().awaitAtLeast(now + 3, WAIT)).isTrue();
            dest.handle((v, e) -> null).get(Patience.secondsOf(30), TimeUnit.SECONDS);
        }
    }

    @Test
    void aDestinationRefusingTheConfigurationSaysWhy() throws Exception {
        try (Source src = Source.start(CounterGuest.RAM);
             SSLServerSocket server = pki.destination.listen(new MigrationAddress("127.0.0.1", 0))) {
            CompletableFuture<Throwable> in = CompletableFuture.supplyAsync(() -> {
                try {
                    IncomingMigration.receive(server, (c, shape) -> {
                        throw new MigrationException("source has " + c.cpus() + " vCPU, this VM has 2");
                    });
                    return null;
                } catch (Exception e) {
                    return e;
                }
            });
            OutgoingMigration out = new OutgoingMigration(MigrationSource.of(src.machine(), List::of),
                    new MigrationAddress("127.0.0.1", server.getLocalPort()), pki.source, new Convergence(300));
            out.run();
            MigrationReport r = out.status();
            assertThat(r.status()).isEqualTo(MigrationReport.Status.FAILED);
            assertThat(r.error()).isEqualTo("destination refused: source has 1 vCPU, this VM has 2");
            assertRunsOnAsBefore(src);
            assertThat(in).as("the destination keeps waiting for a source it can take").isNotDone();
            server.close();
            assertThat(in.get(Patience.secondsOf(30), TimeUnit.SECONDS)).isInstanceOf(java.net.SocketException.class);
        }
    }

    @Test
    void pagesTheVmmWritesAreMigratedAndRoundsThatDoNotShrinkGetThrottled() throws Exception {
        // A stand-in device thread keeps writing 2048 pages of guest RAM through GuestMemory, as
        // virtio completions do: KVM's dirty log never sees these writes, the userspace log must.
        // They dirty more than a 1 ms downtime target allows, every round: auto-converge
        // throttles (the guest; the device thread is not slowed) and the round limit ends pre-copy.
        AtomicReference<String> sourceChecksum = new AtomicReference<>();
        try (Source src = Source.start(16L << 20);
             SSLServerSocket server = pki.destination.listen(new MigrationAddress("127.0.0.1", 0))) {
            Machine m = src.machine();
            java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
            Thread device = Thread.ofPlatform().start(() -> {
                for (long seq = 1; !stop.get(); seq++) {
                    for (long gpa = 8 << 20; gpa < 16 << 20; gpa += 4096) {
                        m.memory().writeLong(gpa, seq);
                    }
                }
            });
            CompletableFuture<IncomingMigration.Result> in = CompletableFuture.supplyAsync(() -> {
                try {
                    return IncomingMigration.receive(server, Target::new);
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            MigrationSource withDevice = new MigrationSource() {
                public Machine machine() {
                    return m;
                }

                public void pause() throws InterruptedException {
                    m.pause();
                    stop.set(true);
                    device.join();
                }

                public void resume() {
                    m.resume();
                }

                public List<DeviceState> deviceStates() {
                    sourceChecksum.set(CounterGuest.checksum(m.memory()));
                    return List.of(DeviceState.of("fake0", new byte[] {1}));
                }

                public void migratedAway() {
                    m.requestStop(io.jkvm.vmm.StopReason.STOPPED, "migrated");
                }
            };
            OutgoingMigration out = new OutgoingMigration(withDevice,
                    new MigrationAddress("127.0.0.1", server.getLocalPort()), pki.source, new Convergence(1));
            try {
                out.run();
            } finally {
                stop.set(true);
                device.join();
            }
            MigrationReport r = out.status();
            System.out.println(r.summary());
            assertThat(r.status()).as(r.summary()).isEqualTo(MigrationReport.Status.COMPLETED);
            assertThat(r.rounds()).isGreaterThan(3);
            assertThat(r.throttlePercent()).isGreaterThanOrEqualTo(Convergence.FIRST_THROTTLE);
            assertThat(r.finalPages()).as("the device's pages go again at the pause").isGreaterThanOrEqualTo(2048);
            assertThat(m.throttle()).as("throttle lifted at the pause").isZero();
            try (Target t = (Target) in.get(Patience.secondsOf(60), TimeUnit.SECONDS).target()) {
                assertThat(t.checksumBeforeStart).as("device-written pages arrived too").isEqualTo(sourceChecksum.get());
                assertThat(t.progress.awaitAtLeast(t.counterBeforeStart + 2, WAIT)).isTrue();
                assertThat(t.machine.throttle()).isZero();
            }
        }
    }

    @Test
    void theDestinationRefusesAnUntrustedSourceAndWaitsForTheRealOne() throws Exception {
        try (Source src = Source.start(CounterGuest.RAM);
             SSLServerSocket server = pki.destination.listen(new MigrationAddress("127.0.0.1", 0))) {
            CompletableFuture<IncomingMigration.Result> in = CompletableFuture.supplyAsync(() -> {
                try {
                    return IncomingMigration.receive(server, Target::new);
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            MigrationAddress to = new MigrationAddress("127.0.0.1", server.getLocalPort());
            OutgoingMigration rogue = new OutgoingMigration(MigrationSource.of(src.machine(), List::of), to, pki.rogue,
                    new Convergence(300));
            rogue.run();
            assertThat(rogue.status().status()).isEqualTo(MigrationReport.Status.FAILED);
            System.out.println("rogue source: " + rogue.status().error());
            assertThat(rogue.status().error()).contains("certificate");
            assertRunsOnAsBefore(src);

            OutgoingMigration real = new OutgoingMigration(MigrationSource.of(src.machine(), List::of), to, pki.source,
                    new Convergence(300));
            real.run();
            assertThat(real.status().status()).as(real.status().summary()).isEqualTo(MigrationReport.Status.COMPLETED);
            try (Target t = (Target) in.get(Patience.secondsOf(60), TimeUnit.SECONDS).target()) {
                assertThat(t.progress.awaitAtLeast(t.counterBeforeStart + 2, WAIT)).isTrue();
            }
        }
    }

    @Test
    void aHostileStreamAfterTheHandshakeIsAnsweredWithFailedAndDiscarded() throws Exception {
        try (SSLServerSocket server = pki.destination.listen(new MigrationAddress("127.0.0.1", 0))) {
            List<Target> created = new java.util.concurrent.CopyOnWriteArrayList<>();
            CompletableFuture<Throwable> in = CompletableFuture.supplyAsync(() -> {
                try {
                    IncomingMigration.receive(server, (c, shape) -> {
                        Target t = new Target(c, shape);
                        created.add(t);
                        return t;
                    });
                    return null;
                } catch (Exception e) {
                    return e;
                }
            });
            try (javax.net.ssl.SSLSocket s = pki.source.connect(new MigrationAddress("127.0.0.1", server.getLocalPort()), 30_000)) {
                RecordWriter w = new RecordWriter(s.getOutputStream());
                RecordReader r = new RecordReader(s.getInputStream());
                w.header();
                w.config(new MachineConfig(1, 2 << 20, true));
                w.flush();
                assertThat(r.read()).isInstanceOf(MigrationRecord.Ready.class);
                w.pages(new long[] {2 << 20}, new byte[4096], 1); // one page past the end of RAM
                w.flush();
                assertThat(r.read()).isEqualTo(new MigrationRecord.Failed("PAGES record: gpa 0x200000 is outside guest RAM"));
            }
            assertThat(in.get(Patience.secondsOf(30), TimeUnit.SECONDS)).hasMessage("PAGES record: gpa 0x200000 is outside guest RAM");
            assertThat(created).hasSize(1);
        }
    }

    @Test
    void aDestinationThatStopsReadingIsGivenUpOn() throws Exception {
        try (Source src = Source.start(64L << 20);
             SSLServerSocket server = pki.destination.listen(new MigrationAddress("127.0.0.1", 0))) {
            for (long a = 1 << 20; a < 64L << 20; a += 4096) {
                src.machine().memory().writeLong(a, a);
            }
            java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
            CompletableFuture<Void> dest = fake(server, (s, in, out) -> {
                out.empty(Wire.READY);
                out.flush();
                release.await(Patience.secondsOf(60), TimeUnit.SECONDS); // alive, but reads nothing more
            });
            OutgoingMigration out = new OutgoingMigration(MigrationSource.of(src.machine(), List::of),
                    new MigrationAddress("127.0.0.1", server.getLocalPort()), pki.source, new Convergence(300),
                    Duration.ofSeconds(2)).start();
            // While it is stuck in round 0, the live report says how far that round got (what
            // `jkvm migrate` draws its progress bar from).
            MigrationReport live = out.status();
            long deadline = System.nanoTime() + Patience.seconds(30).toNanos();
            while (!(live.status() == MigrationReport.Status.ACTIVE && live.roundBytes() > 0 && live.bytes() > 0)
                    && !live.status().finished() && System.nanoTime() < deadline) {
                Thread.sleep(5); // polling a status, as `jkvm migrate` does
                live = out.status();
            }
            assertThat(live.phase()).as(live.toString()).isEqualTo("precopy");
            assertThat(live.roundBytes()).as("round 0 covers all of RAM").isEqualTo(64L << 20);
            assertThat(live.remainingBytes()).as("the stalled destination took only part of it").isBetween(1L, live.roundBytes());
            assertThat(out.awaitEnd(Patience.seconds(60))).isTrue();
            release.countDown();
            MigrationReport r = out.status();
            System.out.println(r.summary());
            assertThat(r.status()).isEqualTo(MigrationReport.Status.FAILED);
            assertThat(r.error()).startsWith("the destination accepted no data for 2000 ms");
            assertRunsOnAsBefore(src);
            dest.handle((v, e) -> null).get(Patience.secondsOf(30), TimeUnit.SECONDS);
        }
    }
}
