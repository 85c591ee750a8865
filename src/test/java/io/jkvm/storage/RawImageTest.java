package io.jkvm.storage;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class RawImageTest {
    @TempDir
    Path dir;

    private Path image(int bytes) throws IOException {
        Path p = dir.resolve("disk.img");
        Files.write(p, new byte[bytes]);
        return p;
    }

    @Test
    void secondWritableOpenFailsNamingTheFile() throws IOException {
        Path p = image(4096);
        try (RawImage first = RawImage.open(p, false)) {
            assertThatThrownBy(() -> RawImage.open(p, false)).isInstanceOf(IOException.class)
                    .hasMessageContaining(p.toString()).hasMessageContaining("in use");
            assertThatThrownBy(() -> RawImage.open(p, true)).as("readers are kept out while someone writes")
                    .isInstanceOf(IOException.class).hasMessageContaining(p.toString());
        }
        try (RawImage again = RawImage.open(p, false)) {
            assertThat(again.readOnly()).as("lock released by close").isFalse();
        }
    }

    @Test
    void readOnlyOpensShareTheImage() throws IOException {
        Path p = image(4096);
        try (RawImage a = RawImage.open(p, true); RawImage b = RawImage.open(p, true)) {
            assertThat(a.size()).isEqualTo(4096);
            assertThat(b.size()).isEqualTo(4096);
            assertThatThrownBy(() -> RawImage.open(p, false)).isInstanceOf(IOException.class);
        }
    }

    @Test
    void missingFileIsAClearError() {
        Path p = dir.resolve("nope.img");
        assertThatThrownBy(() -> RawImage.open(p, false)).isInstanceOf(IOException.class).hasMessageContaining(p.toString());
    }

    @Test
    void zeroCopyReadWriteFlushDiscardAndZeroes() throws IOException {
        Path p = image(64 * 1024);
        try (RawImage img = RawImage.open(p, false); Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(8192);
            buf.fill((byte) 0x77);
            img.write(4096, buf);
            img.flush();
            MemorySegment back = a.allocate(8192);
            img.read(4096, back);
            assertThat(back.mismatch(buf)).isEqualTo(-1);
            img.discard(4096, 4096);
            img.writeZeroes(8192, 4096, false);
            img.read(4096, back);
            for (long i = 0; i < 8192; i++) {
                assertThat(back.get(ValueLayout.JAVA_BYTE, i)).isZero();
            }
            assertThatThrownBy(() -> img.read(60 * 1024, a.allocate(8192))).hasMessageContaining("outside");
        }
        byte[] onDisk = Files.readAllBytes(p);
        assertThat(onDisk[4096]).isZero();
    }

    @Test
    void readOnlyImageRefusesWrites() throws IOException {
        Path p = image(4096);
        try (RawImage img = RawImage.open(p, true); Arena a = Arena.ofConfined()) {
            assertThatThrownBy(() -> img.write(0, a.allocate(512))).hasMessageContaining("read-only");
        }
    }
}
