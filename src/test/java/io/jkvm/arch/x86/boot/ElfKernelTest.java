package io.jkvm.arch.x86.boot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jkvm.arch.x86.TestMemory;
import io.jkvm.memory.GuestMemory;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class ElfKernelTest {
    private static byte[] pattern(int n, int seed) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (i * 31 + seed);
        }
        return b;
    }

    @Test
    void parsesAndLoadsSegmentsWithBss() {
        byte[] text = pattern(0x2000, 1);
        byte[] data = pattern(0x800, 2);
        byte[] file = new ElfBuilder().load(0x100_0000, text, 0x2000).load(0x100_4000, data, 0x3000).build();
        ElfKernel k = ElfKernel.parse(file);
        assertThat(k.segments()).hasSize(2);
        assertThat(k.pvhEntry()).hasValue(0x100_0040);
        assertThat(k.requirePvhEntry()).isEqualTo(0x100_0040);
        assertThat(k.end()).isEqualTo(0x100_7000);
        GuestMemory mem = TestMemory.flat(32L << 20);
        mem.fill(0x100_4000, 0x3000, (byte) 0x55);
        k.load(mem, file, mem.size());
        assertThat(mem.read(0x100_0000, 0x2000)).isEqualTo(text);
        assertThat(mem.read(0x100_4000, 0x800)).isEqualTo(data);
        assertThat(mem.read(0x100_4800, 0x2800)).containsOnly(0);
    }

    @Test
    void acceptsFourBytePvhNote() {
        ElfBuilder b = new ElfBuilder().load(0x100_0000, pattern(64, 3), 64);
        b.pvhDescSize = 4;
        b.pvhEntry = 0x1234567;
        assertThat(ElfKernel.parse(b.build()).requirePvhEntry()).isEqualTo(0x1234567);
    }

    @Test
    void missingPvhNoteIsAClearError() {
        ElfBuilder b = new ElfBuilder().load(0x100_0000, pattern(64, 3), 64);
        b.pvhEntry = -1;
        ElfKernel k = ElfKernel.parse(b.build());
        assertThat(k.pvhEntry()).isEmpty();
        assertThatThrownBy(k::requirePvhEntry)
                .isInstanceOf(KernelFormatException.class)
                .hasMessage("vmlinux has no PVH entry note (kernel built without CONFIG_PVH)");
    }

    @Test
    void rejectsSegmentsBelowOneMiB() {
        byte[] file = new ElfBuilder().load(0x8000, pattern(64, 3), 64).build();
        ElfKernel k = ElfKernel.parse(file);
        GuestMemory mem = TestMemory.flat(8L << 20);
        assertThatThrownBy(() -> k.load(mem, file, mem.size()))
                .isInstanceOf(KernelFormatException.class)
                .hasMessageContaining("segment 0 at 0x8000 overlaps jkvm's boot structures below 1 MiB");
    }

    @Test
    void rejectsSegmentsBeyondRam() {
        byte[] file = new ElfBuilder().load(0x100_0000, pattern(64, 3), 0x100_0000).build();
        ElfKernel k = ElfKernel.parse(file);
        GuestMemory mem = TestMemory.flat(24L << 20);
        assertThatThrownBy(() -> k.load(mem, file, mem.size()))
                .isInstanceOf(BootException.class)
                .hasMessageContaining("lies beyond guest RAM");
    }

    @Test
    void rejectsWrongMachineTypeAndClass() {
        ElfBuilder b = new ElfBuilder().load(0x100_0000, pattern(64, 3), 64);
        b.machine = 3;
        assertThatThrownBy(() -> ElfKernel.parse(b.build())).hasMessageContaining("not for x86-64");
        b.machine = 62;
        b.type = 3;
        assertThatThrownBy(() -> ElfKernel.parse(b.build())).hasMessageContaining("ET_EXEC");
        b.type = 2;
        byte[] f = b.build();
        f[4] = 1;
        assertThatThrownBy(() -> ElfKernel.parse(f)).hasMessageContaining("not a 64-bit ELF");
    }

    @Test
    void rejectsTruncatedSegment() {
        byte[] file = new ElfBuilder().load(0x100_0000, pattern(0x1000, 3), 0x1000).build();
        byte[] cut = Arrays.copyOf(file, file.length - 1);
        assertThatThrownBy(() -> ElfKernel.parse(cut))
                .isInstanceOf(KernelFormatException.class)
                .hasMessageContaining("PT_LOAD segment 1: file range");
    }

    @Test
    void rejectsNoteOverrunningItsSegment() {
        byte[] file = new ElfBuilder().load(0x100_0000, pattern(64, 3), 64).build();
        // first note (GNU) starts right after the two program headers: inflate its descsz
        int note = 64 + 2 * 56;
        file[note + 4] = (byte) 0xf0;
        assertThatThrownBy(() -> ElfKernel.parse(file)).hasMessageContaining("overruns its PT_NOTE segment");
    }
}
