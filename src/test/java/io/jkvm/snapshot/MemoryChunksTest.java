package io.jkvm.snapshot;

import io.jkvm.memory.GuestRam;
import io.jkvm.memory.RamBacking;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static io.jkvm.snapshot.SnapshotFixtures.KEY;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The memory file read chunk by chunk, as a lazy restore reads it: every chunk checked as it is read. */
class MemoryChunksTest {
    /** 3 MiB and 8 KiB: three whole chunks and a short one. */
    static final long RAM = 3 * MemoryFile.CHUNK + 8192;

    @TempDir
    Path dir;

    SnapshotHeader.Memory written(Protection p, byte[] id) throws IOException {
        try (GuestRam ram = GuestRam.allocate(RAM, RamBacking.PAGES);
                FileChannel ch = FileChannel.open(dir.resolve("vm.mem"), StandardOpenOption.CREATE_NEW,
                        StandardOpenOption.WRITE)) {
            SnapshotFixtures.fill(ram, 5);
            return MemoryFile.write(ch, ram.memory(), KEY, p, id, new byte[12]);
        }
    }

    MemoryChunks open(SnapshotHeader.Memory m, Protection p, byte[] id) throws IOException {
        MachineConfig cfg = new MachineConfig(1, RAM, true);
        return MemoryChunks.open(dir.resolve("vm.mem"), dir.resolve("vm.state"), m, cfg, p, KEY, id, false);
    }

    @ParameterizedTest
    @EnumSource(Protection.class)
    void eachChunkReadsBackAsTheRamWasAndAChangedOneIsRefusedAlone(Protection p) throws IOException {
        byte[] id = SnapshotFixtures.bytes(16, 3);
        SnapshotHeader.Memory m = written(p, id);
        assertThat(MemoryChunks.lazyCapable(m, p)).isTrue();
        try (GuestRam want = GuestRam.allocate(RAM, RamBacking.PAGES); Arena a = Arena.ofConfined()) {
            SnapshotFixtures.fill(want, 5);
            MemorySegment host = want.memory().regions().getFirst().host();
            try (MemoryChunks chunks = open(m, p, id)) {
                assertThat(chunks.chunks()).isEqualTo(4);
                for (int i = 0; i < 4; i++) {
                    long len = i < 3 ? MemoryFile.CHUNK : 8192;
                    MemorySegment got = a.allocate(len);
                    chunks.read(i, got);
                    assertThat(got.mismatch(host.asSlice((long) i * MemoryFile.CHUNK, len))).as("chunk %d", i).isEqualTo(-1);
                }
                // A byte of chunk 2 changes after the restore began: chunk 2 is refused, the others still read.
                long at = 2L * MemoryFile.CHUNK + (p == Protection.AES_256_GCM ? 2 * MemoryFile.TAG : 0) + 777;
                flip(dir.resolve("vm.mem"), at);
                assertThatThrownBy(() -> chunks.read(2, a.allocate(MemoryFile.CHUNK)))
                        .isInstanceOf(SnapshotException.class)
                        .hasMessageContaining("memory chunk 2")
                        .hasMessageContaining(dir.resolve("vm.mem").toString());
                chunks.read(1, a.allocate(MemoryFile.CHUNK));
                assertThatThrownBy(() -> chunks.read(3, a.allocate(MemoryFile.CHUNK)))
                        .as("a buffer that is not the chunk's length").isInstanceOf(IllegalArgumentException.class);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Protection.class)
    void aFileOfTheWrongLengthIsRefusedBeforeAnyRead(Protection p) throws IOException {
        byte[] id = SnapshotFixtures.bytes(16, 3);
        SnapshotHeader.Memory m = written(p, id);
        try (FileChannel ch = FileChannel.open(dir.resolve("vm.mem"), StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() - 4096);
        }
        assertThatThrownBy(() -> open(m, p, id)).isInstanceOf(SnapshotException.class).hasMessageContaining("(truncated)");
    }

    @ParameterizedTest
    @EnumSource(Protection.class)
    void aChunkFromAnotherPlaceOrSnapshotIsRefused(Protection p) throws IOException {
        byte[] id = SnapshotFixtures.bytes(16, 3);
        SnapshotHeader.Memory m = written(p, id);
        // Chunk 0's bytes copied over chunk 1: each is authentic on its own, not in that place.
        try (FileChannel ch = FileChannel.open(dir.resolve("vm.mem"), StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            int len = MemoryFile.CHUNK + (p == Protection.AES_256_GCM ? MemoryFile.TAG : 0);
            ByteBuffer b = ByteBuffer.allocate(len);
            ch.read(b, 0);
            ch.write(b.flip(), len);
        }
        try (MemoryChunks chunks = open(m, p, id); Arena a = Arena.ofConfined()) {
            chunks.read(0, a.allocate(MemoryFile.CHUNK));
            assertThatThrownBy(() -> chunks.read(1, a.allocate(MemoryFile.CHUNK))).isInstanceOf(SnapshotException.class)
                    .hasMessageContaining("memory chunk 1");
        }
    }

    @org.junit.jupiter.api.Test
    void aTableOfTheWrongSizeIsRefused() throws IOException {
        byte[] id = SnapshotFixtures.bytes(16, 3);
        SnapshotHeader.Memory m = written(Protection.HMAC_SHA256, id);
        SnapshotHeader.Memory shortTable = new SnapshotHeader.Memory(m.length(), m.mac(), m.regions(), null, null,
                java.util.Base64.getEncoder().encodeToString(new byte[3 * MemoryFile.CHUNK_MAC]));
        assertThatThrownBy(() -> open(shortTable, Protection.HMAC_SHA256, id)).isInstanceOf(SnapshotException.class)
                .hasMessageContaining("3 entries for 4 chunks");
        SnapshotHeader.Memory notBase64 = new SnapshotHeader.Memory(m.length(), m.mac(), m.regions(), null, null, "!!");
        assertThatThrownBy(() -> open(notBase64, Protection.HMAC_SHA256, id)).isInstanceOf(SnapshotException.class)
                .hasMessageContaining("not base64");
        assertThat(MemoryChunks.lazyCapable(new SnapshotHeader.Memory(m.length(), m.mac(), m.regions(), null, null, null),
                Protection.HMAC_SHA256)).as("files written before the table restore eagerly").isFalse();
    }

    static void flip(Path file, long at) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(1);
            ch.read(b, at);
            b.put(0, (byte) (b.get(0) ^ 0x01)).rewind();
            ch.write(b, at);
        }
    }
}
