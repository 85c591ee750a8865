package io.jkvm.snapshot;

import io.jkvm.testing.Patience;
import io.jkvm.device.legacy.Serial16550;
import io.jkvm.testing.KvmAvailable;
import io.jkvm.testing.TestGuest;
import io.jkvm.vmm.Machine;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Direct-KVM snapshot acceptance: a running guest is paused, saved and closed here, then restored
 * in a new JVM, where its memory must match and its work must continue where it stopped.
 */
@Tag("kvm")
class SnapshotDirectTest {
    private static final long WAIT = Patience.seconds(60).toNanos();

    @TempDir
    Path dir;

    @BeforeEach
    void kvm() {
        KvmAvailable.assume();
    }

    @Test
    void aGuestSavedHereContinuesInAnotherProcess() throws Exception {
        for (Protection p : Protection.values()) {
            saveAndRestoreElsewhere(p);
        }
    }

    private void saveAndRestoreElsewhere(Protection protection) throws Exception {
        byte[] code = CounterGuest.code();
        Path state = dir.resolve(protection + ".state"), mem = dir.resolve(protection + ".mem");
        Path keyFile = dir.resolve("key");
        if (!Files.exists(keyFile)) {
            byte[] k = new byte[32];
            new SecureRandom().nextBytes(k);
            Files.write(keyFile, k);
            Files.setPosixFilePermissions(keyFile, java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        }
        SnapshotKey key = SnapshotKey.fromFile(keyFile);
        String checksum;
        int counter;
        Snapshots.SaveResult saved;
        try (Machine m = Machine.create(new Machine.Options(1, CounterGuest.RAM, true, io.jkvm.memory.RamBacking.PAGES))) {
            CounterGuest.Progress progress = new CounterGuest.Progress();
            m.pio().register(CounterGuest.PORT, 4, progress);
            Serial16550 uart = Serial16550.restore(m.irqLine(4), OutputStream.nullOutputStream(), new Serial16550.State(0x0c, 0, 0, 0x01, 3, 0, 0, 0, 0x5a, false, new byte[] {'o', 'k'}));
            m.vcpus().getFirst().setCpuid(m.kvm().supportedCpuid());
            TestGuest.startProtectedMode(m.vcpus().getFirst(), m.memory(), code, CounterGuest.ORIGIN);
            m.start();
            assertThat(progress.awaitAtLeast(2, WAIT)).as("guest reports progress").isTrue();
            assertThatThrownBy(() -> Snapshots.save(m, List.of(), state, mem, key))
                    .hasMessageContaining("must be paused");
            m.pause();
            counter = m.memory().readInt(CounterGuest.COUNTER);
            assertThat(CounterGuest.patternProblem(m.memory(), counter)).isNull();
            checksum = CounterGuest.checksum(m.memory());
            saved = Snapshots.save(m, List.of(io.jkvm.vmm.DeviceStateFormat.CODECS.encode("serial0", uart.save())), state, mem, key, protection);
            // Saving reads state only: the paused machine is unchanged.
            assertThat(CounterGuest.checksum(m.memory())).isEqualTo(checksum);
        }

        VcpuState v0 = Snapshots.load(state, mem, key).state().vcpus().getFirst();
        System.out.printf("snapshot %s: vCPU parts saved on this host: xsave=%b xcrs=%b events=%b debugregs=%b lapic=%b msrs=%d%n",
                protection, v0.xsave() != null, v0.xcrs() != null, v0.events() != null, v0.debugRegs() != null,
                v0.lapic() != null, v0.msrs().size());
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), SnapshotRestoreMain.class.getName(),
                state.toString(), mem.toString(), keyFile.toString(), checksum, Integer.toString(counter))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(Patience.secondsOf(120), TimeUnit.SECONDS)).as("restore process finished").isTrue();
        System.out.printf("snapshot %s: saved counter=%d in %d us [kvm state %d us, memory file %d us] (state %d B,"
                + " memory %d B); child: %s%n",
                protection, counter, saved.elapsed().toNanos() / 1000, saved.captureKvm().toNanos() / 1000,
                saved.writeMemory().toNanos() / 1000, saved.stateFileBytes(), saved.memoryFileBytes(),
                out.lines().filter(l -> l.startsWith("RESULT")).findFirst().orElse("<no result>"));
        assertThat(out).as(out).contains("RESULT ok");
        assertThat(p.exitValue()).as(out).isZero();
    }

    @Test
    void aPauseRightAfterAPortReadSavesTheCompletedInstruction() throws Exception {
        // The pause is requested from inside the IN handler, so the vCPU parks straight after the
        // exit. KVM stores IN data and advances RIP only on the next KVM_RUN; unless that is done
        // before parking, the snapshot holds RIP at the IN and the restored guest reads the
        // port again (getting the restored side's 0x5678 instead of 0x1234).
        byte[] code = TestGuest.assemble("""
                .code32
                    mov $0x531, %dx
                    in %dx, %eax
                    mov $0x538, %dx
                    out %eax, %dx
                    hlt
                """, CounterGuest.ORIGIN);
        Path state = dir.resolve("s"), mem = dir.resolve("m");
        SnapshotKey key = SnapshotKey.of(new byte[32]);
        try (Machine m = Machine.create(new Machine.Options(1, 2 << 20, false, io.jkvm.memory.RamBacking.PAGES))) {
            m.pio().register(0x531, 4, new io.jkvm.device.BusDevice() {
                public long read(long offset, int size) {
                    Thread t = Thread.ofPlatform().start(() -> {
                        try {
                            m.pause();
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    });
                    // pause() sets the request before it waits: poll for the waiting state.
                    long deadline = System.nanoTime() + WAIT;
                    while (t.getState() != Thread.State.WAITING && t.isAlive() && System.nanoTime() < deadline) {
                        Thread.onSpinWait();
                    }
                    return 0x1234;
                }

                public void write(long offset, int size, long value) {
                }
            });
            TestGuest.startProtectedMode(m.vcpus().getFirst(), m.memory(), code, CounterGuest.ORIGIN);
            m.start();
            long deadline = System.nanoTime() + WAIT;
            while (!m.isPaused()) {
                assertThat(System.nanoTime()).as("machine paused in the IN handler").isLessThan(deadline);
                Thread.onSpinWait();
            }
            Snapshots.save(m, List.of(), state, mem, key);
        }
        Snapshots.Restored r = Snapshots.restore(state, mem, key);
        try (Machine m = r.machine()) {
            MachineDirectProbe in = new MachineDirectProbe(0x5678);
            MachineDirectProbe out = new MachineDirectProbe(0);
            m.pio().register(0x531, 4, in);
            m.pio().register(0x538, 4, out);
            m.start();
            assertThat(m.awaitExit(java.time.Duration.ofNanos(WAIT))).isNotNull();
            assertThat(out.last.get()).as("value the guest read before the snapshot").isEqualTo(0x1234);
        }
    }

    /** Answers reads with a fixed value and records the last write. */
    static final class MachineDirectProbe implements io.jkvm.device.BusDevice {
        final java.util.concurrent.atomic.AtomicLong last = new java.util.concurrent.atomic.AtomicLong(-1);
        final long value;

        MachineDirectProbe(long value) {
            this.value = value;
        }

        public long read(long offset, int size) {
            return value;
        }

        public void write(long offset, int size, long v) {
            last.set(v);
        }
    }

    @Test
    void everyVcpuContinuesFromItsOwnState() throws Exception {
        // Two vCPUs, each incrementing its own word (address in EBX): after restore each counter
        // continues from its saved value, so per-vCPU registers went to the right vCPU.
        byte[] code = TestGuest.assemble("""
                .code32
                loop:
                    incl (%ebx)
                    jmp loop
                """, CounterGuest.ORIGIN);
        Path state = dir.resolve("s2"), mem = dir.resolve("m2");
        SnapshotKey key = SnapshotKey.of(new byte[32]);
        int[] saved = new int[2];
        try (Machine m = Machine.create(new Machine.Options(2, 2 << 20, false, io.jkvm.memory.RamBacking.PAGES))) {
            for (int i = 0; i < 2; i++) {
                TestGuest.startProtectedMode(m.vcpus().get(i), m.memory(), code, CounterGuest.ORIGIN);
                var r = m.vcpus().get(i).getRegs();
                r.rbx(0x3000 + 64L * i);
                m.vcpus().get(i).setRegs(r);
            }
            m.start();
            awaitWord(m, 0x3000, 1000);
            awaitWord(m, 0x3040, 1000);
            m.pause();
            saved[0] = m.memory().readInt(0x3000);
            saved[1] = m.memory().readInt(0x3040);
            Snapshots.save(m, List.of(), state, mem, key);
        }
        Snapshots.Restored r = Snapshots.restore(state, mem, key);
        try (Machine m = r.machine()) {
            assertThat(m.vcpus()).hasSize(2);
            assertThat(m.memory().readInt(0x3000)).isEqualTo(saved[0]);
            assertThat(m.memory().readInt(0x3040)).isEqualTo(saved[1]);
            assertThat(m.vcpus().get(1).getRegs().rbx()).isEqualTo(0x3040);
            m.start();
            awaitWord(m, 0x3000, saved[0] + 1000);
            awaitWord(m, 0x3040, saved[1] + 1000);
        }
    }

    private static void awaitWord(Machine m, long gpa, int atLeast) {
        long deadline = System.nanoTime() + WAIT;
        while (Integer.compareUnsigned(m.memory().readInt(gpa), atLeast) < 0) {
            assertThat(System.nanoTime()).as("word at 0x%x reaches %d", gpa, atLeast).isLessThan(deadline);
            Thread.onSpinWait();
        }
    }

    @Test
    void aSnapshotIsNotAppliedToAMachineOfAnotherShape() throws Exception {
        Path state = dir.resolve("s"), mem = dir.resolve("m");
        SnapshotKey key = SnapshotKey.of(new byte[32]);
        try (Machine m = Machine.create(new Machine.Options(2, 2 << 20, false, io.jkvm.memory.RamBacking.PAGES))) {
            for (var v : m.vcpus()) {
                TestGuest.startProtectedMode(v, m.memory(), CounterGuest.code(), CounterGuest.ORIGIN);
            }
            Snapshots.save(m, List.of(), state, mem, key);
        }
        Snapshots.Loaded l = Snapshots.load(state, mem, key);
        try (Machine other = Machine.create(new Machine.Options(1, 2 << 20, false, io.jkvm.memory.RamBacking.PAGES))) {
            assertThatThrownBy(() -> Snapshots.applyState(other, l))
                    .isInstanceOf(SnapshotException.class)
                    .hasMessageContaining("snapshot has 2 vCPUs, this VM has 1");
        }
    }
}
