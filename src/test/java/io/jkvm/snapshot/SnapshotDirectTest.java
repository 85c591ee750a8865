package io.jkvm.snapshot;

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
    private static final long WAIT = TimeUnit.SECONDS.toNanos(60);

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
        }
        SnapshotKey key = SnapshotKey.fromFile(keyFile);
        String checksum;
        int counter;
        Snapshots.SaveResult saved;
        try (Machine m = Machine.create(new Machine.Options(1, CounterGuest.RAM, true, false))) {
            CounterGuest.Progress progress = new CounterGuest.Progress();
            m.pio().register(CounterGuest.PORT, 4, progress);
            Serial16550 uart = new Serial16550(m.irqLine(4), OutputStream.nullOutputStream());
            uart.restore(new Serial16550.State(0x0c, 0, 0, 0x01, 3, 0, 0, 0, 0x5a, false, new byte[] {'o', 'k'}));
            TestGuest.startProtectedMode(m.vcpus().getFirst(), m.memory(), code, CounterGuest.ORIGIN);
            m.start();
            assertThat(progress.awaitAtLeast(2, WAIT)).as("guest reports progress").isTrue();
            assertThatThrownBy(() -> Snapshots.save(m, List.of(), state, mem, key))
                    .hasMessageContaining("must be paused");
            m.pause();
            counter = m.memory().readInt(CounterGuest.COUNTER);
            assertThat(CounterGuest.patternProblem(m.memory(), counter)).isNull();
            checksum = CounterGuest.checksum(m.memory());
            saved = Snapshots.save(m, List.of(SerialDeviceState.capture("serial0", uart)), state, mem, key, protection);
            // Saving reads state only: the paused machine is unchanged.
            assertThat(CounterGuest.checksum(m.memory())).isEqualTo(checksum);
        }

        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "--enable-native-access=ALL-UNNAMED",
                "-cp", System.getProperty("java.class.path"), SnapshotRestoreMain.class.getName(),
                state.toString(), mem.toString(), keyFile.toString(), checksum, Integer.toString(counter))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor(120, TimeUnit.SECONDS)).as("restore process finished").isTrue();
        System.out.printf("snapshot %s: saved counter=%d in %d us [kvm state %d us, memory file %d us] (state %d B,"
                + " memory %d B); child: %s%n",
                protection, counter, saved.elapsed().toNanos() / 1000, saved.captureKvm().toNanos() / 1000,
                saved.writeMemory().toNanos() / 1000, saved.stateFileBytes(), saved.memoryFileBytes(),
                out.lines().filter(l -> l.startsWith("RESULT")).findFirst().orElse("<no result>"));
        assertThat(out).as(out).contains("RESULT ok");
        assertThat(p.exitValue()).as(out).isZero();
    }

    @Test
    void aSnapshotIsNotAppliedToAMachineOfAnotherShape() throws Exception {
        Path state = dir.resolve("s"), mem = dir.resolve("m");
        SnapshotKey key = SnapshotKey.of(new byte[32]);
        try (Machine m = Machine.create(new Machine.Options(2, 2 << 20, false, false))) {
            for (var v : m.vcpus()) {
                TestGuest.startProtectedMode(v, m.memory(), CounterGuest.code(), CounterGuest.ORIGIN);
            }
            Snapshots.save(m, List.of(), state, mem, key);
        }
        Snapshots.Loaded l = Snapshots.load(state, mem, key);
        try (Machine other = Machine.create(new Machine.Options(1, 2 << 20, false, false))) {
            assertThatThrownBy(() -> Snapshots.applyState(other, l))
                    .isInstanceOf(SnapshotException.class)
                    .hasMessageContaining("snapshot has 2 vCPUs, this VM has 1");
        }
    }
}
