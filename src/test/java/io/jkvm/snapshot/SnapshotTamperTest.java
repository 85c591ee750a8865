package io.jkvm.snapshot;

import io.jkvm.device.legacy.Serial16550;
import io.jkvm.memory.GuestRam;
import io.jkvm.vmm.Machine;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

import static io.jkvm.snapshot.SnapshotFixtures.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Snapshot files that were modified, truncated, mixed up or keyed wrongly are refused, saying why. */
class SnapshotTamperTest {
    @TempDir
    Path dir;

    Path state() {
        return dir.resolve("vm.state");
    }

    Path mem() {
        return dir.resolve("vm.mem");
    }

    void snapshot(Protection p) throws IOException {
        write(SnapshotFixtures.state(2, true), 1, state(), mem(), KEY, p,
                List.of(DeviceState.of("serial0", new byte[] {1, 2, 3})));
    }

    @ParameterizedTest
    @EnumSource(Protection.class)
    void anIntactSnapshotLoadsWithEveryField(Protection p) throws IOException {
        snapshot(p);
        Snapshots.Loaded l = Snapshots.load(state(), mem(), KEY);
        VmState want = SnapshotFixtures.state(2, true);
        assertThat(l.protection()).isEqualTo(p);
        assertThat(l.config()).isEqualTo(want.config());
        assertThat(l.state().vcpus()).hasSize(2);
        for (int i = 0; i < 2; i++) {
            VcpuState a = l.state().vcpus().get(i), b = want.vcpus().get(i);
            assertThat(a.regs()).isEqualTo(b.regs());
            assertThat(a.sregs()).isEqualTo(b.sregs());
            assertThat(a.fpu()).isEqualTo(b.fpu());
            assertThat(a.xsave()).isNull();
            assertThat(a.xcrs()).isEqualTo(b.xcrs());
            assertThat(a.msrs()).isEqualTo(b.msrs());
            assertThat(a.lapic()).isEqualTo(b.lapic());
            assertThat(a.events()).isEqualTo(b.events());
            assertThat(a.debugRegs()).isEqualTo(b.debugRegs());
            assertThat(a.cpuid()).isEqualTo(b.cpuid());
        }
        assertThat(l.state().irqchips()).hasSize(3);
        assertThat(l.state().pit()).isEqualTo(want.pit());
        assertThat(l.state().clock()).isEqualTo(want.clock());
        assertThat(l.devices()).containsExactly(DeviceState.of("serial0", new byte[] {1, 2, 3}));
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(mem()))).isEqualTo("rw-------");
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(state()))).isEqualTo("rw-------");
    }

    @ParameterizedTest
    @EnumSource(Protection.class)
    void memoryComesBackByteForByte(Protection p) throws IOException {
        snapshot(p);
        Snapshots.Loaded l = Snapshots.load(state(), mem(), KEY);
        byte[] id = java.util.HexFormat.of().parseHex(l.snapshotId());
        try (GuestRam want = GuestRam.allocate(RAM, io.jkvm.memory.RamBacking.PAGES);
             GuestRam got = p == Protection.HMAC_SHA256 ? MemoryFile.map(mem(), l.config())
                     : MemoryFile.decrypt(mem(), l.memory(), l.config(), KEY, id)) {
            fill(want, 1);
            assertThat(got.memory().regions().getFirst().host().mismatch(want.memory().regions().getFirst().host()))
                    .isEqualTo(-1);
            // MAP_PRIVATE: the guest's writes never reach the file.
            got.memory().writeLong(0, 42);
            assertThat(Snapshots.load(state(), mem(), KEY)).isNotNull();
        }
    }

    @ParameterizedTest
    @EnumSource(Protection.class)
    void aFlippedByteInTheStateFileIsRefused(Protection p) throws IOException {
        snapshot(p);
        flip(state(), Files.size(state()) / 2);
        assertRefused(state(), "modified or corrupted (MAC mismatch)");
    }

    @ParameterizedTest
    @EnumSource(Protection.class)
    void aFlippedByteInTheMemoryFileIsRefused(Protection p) throws IOException {
        snapshot(p);
        flip(mem(), 123_456);
        assertRefused(mem(), "memory file does not match state file vm.state");
    }

    @Test
    void aTruncatedStateFileIsRefused() throws IOException {
        snapshot(Protection.HMAC_SHA256);
        truncate(state(), Files.size(state()) - 100);
        assertRefused(state(), "truncated");
        truncate(state(), 10);
        assertRefused(state(), "truncated state file (10 bytes");
    }

    @Test
    void aTruncatedMemoryFileIsRefused() throws IOException {
        snapshot(Protection.HMAC_SHA256);
        truncate(mem(), RAM - 4096);
        assertRefused(mem(), "memory file is " + (RAM - 4096) + " bytes, state file vm.state expects " + RAM + " (truncated)");
    }

    @ParameterizedTest
    @EnumSource(Protection.class)
    void aMemoryFileFromAnotherSnapshotIsRefused(Protection p) throws IOException {
        snapshot(p);
        Path otherState = dir.resolve("other.state");
        Path otherMem = dir.resolve("other.mem");
        write(SnapshotFixtures.state(2, true), 2, otherState, otherMem, KEY, p, List.of());
        Files.copy(otherMem, mem(), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        assertRefused(mem(), "memory file does not match state file vm.state (modified, or from another snapshot");
    }

    @ParameterizedTest
    @EnumSource(Protection.class)
    void theWrongKeyIsRefusedAsSuch(Protection p) throws IOException {
        snapshot(p);
        assertThatThrownBy(() -> Snapshots.load(state(), mem(), OTHER_KEY))
                .isInstanceOf(SnapshotException.class)
                .hasMessageContaining(state().toString())
                .hasMessageContaining("written with a different key (key id " + KEY.idHex());
    }

    @Test
    void aMemoryFileOthersCanWriteIsNotMapped() throws IOException {
        snapshot(Protection.HMAC_SHA256);
        Files.setPosixFilePermissions(mem(), PosixFilePermissions.fromString("rw-rw-r--"));
        assertRefused(mem(), "memory file is writable by other users (mode rw-rw-r--)");
    }

    @Test
    void notASnapshotAtAll() throws IOException {
        Files.write(state(), new byte[200]);
        Files.write(mem(), new byte[4096]);
        assertRefused(state(), "not a jkvm snapshot state file (bad magic)");
    }

    @Test
    void anIncompatibleMachineIsRefusedWithTheReason() throws IOException {
        snapshot(Protection.HMAC_SHA256);
        Snapshots.Loaded l = Snapshots.load(state(), mem(), KEY);
        assertThatThrownBy(() -> l.checkCompatible(new Machine.Options(1, RAM, true, io.jkvm.memory.RamBacking.PAGES)))
                .isInstanceOf(SnapshotException.class)
                .hasMessageContaining("snapshot has 2 vCPUs, this VM has 1");
        assertThatThrownBy(() -> l.checkCompatible(new Machine.Options(2, 2 * RAM, true, io.jkvm.memory.RamBacking.PAGES)))
                .hasMessageContaining("snapshot has " + RAM + " bytes of guest memory, this VM has " + 2 * RAM);
        assertThatThrownBy(() -> l.checkCompatible(new Machine.Options(2, RAM, false, io.jkvm.memory.RamBacking.PAGES)))
                .hasMessageContaining("snapshot was taken with the in-kernel irqchip, this VM has none");
        l.checkCompatible(new Machine.Options(2, RAM, true, io.jkvm.memory.RamBacking.PAGES));
    }

    @Test
    void keysShorterThan32BytesAreRefusedAndGeneratedKeysArePrivate() throws IOException {
        Path shortKey = dir.resolve("short.key");
        Files.write(shortKey, new byte[31]);
        Files.setPosixFilePermissions(shortKey, PosixFilePermissions.fromString("rw-------"));
        assertThatThrownBy(() -> SnapshotKey.fromFile(shortKey)).hasMessageContaining("key file is 31 bytes");
        Path shared = dir.resolve("shared.key");
        Files.write(shared, new byte[32]);
        Files.setPosixFilePermissions(shared, PosixFilePermissions.fromString("rw-r--r--"));
        assertThatThrownBy(() -> SnapshotKey.fromFile(shared))
                .hasMessageContaining("key file is readable by other users (mode rw-r--r--); make it private: chmod 600");
        SnapshotKey a = SnapshotKey.loadOrGenerate(dir.resolve("state"));
        SnapshotKey b = SnapshotKey.loadOrGenerate(dir.resolve("state"));
        assertThat(a.idHex()).isEqualTo(b.idHex());
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(dir.resolve("state/snapshot.key"))))
                .isEqualTo("rw-------");
    }

    private void assertRefused(Path culprit, String problem) {
        assertThatThrownBy(() -> Snapshots.load(state(), mem(), KEY))
                .isInstanceOf(SnapshotException.class)
                .hasMessageContaining(culprit.toString())
                .hasMessageContaining(problem)
                .satisfies(e -> assertThat(((SnapshotException) e).file()).isEqualTo(culprit));
    }

    private static void flip(Path file, long at) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            var b = java.nio.ByteBuffer.allocate(1);
            ch.read(b, at);
            b.put(0, (byte) (b.get(0) ^ 0x01)).rewind();
            ch.write(b, at);
        }
    }

    private static void truncate(Path file, long size) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            ch.truncate(size);
        }
    }
}
