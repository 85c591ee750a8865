package io.jkvm.arch.x86.boot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jkvm.arch.x86.Layout;
import io.jkvm.arch.x86.TestMemory;
import io.jkvm.memory.GuestMemory;
import java.nio.file.Files;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class BzImageLoaderTest {
    @Test
    void loadsProtectedModePartAtOneMiB() {
        BzImageBuilder b = new BzImageBuilder();
        byte[] img = b.build();
        GuestMemory mem = TestMemory.flat(32L << 20);
        BzImageLoader.Loaded l = BzImageLoader.load(mem, img, mem.size());
        assertThat(l.loadAddress()).isEqualTo(Layout.KERNEL_START);
        assertThat(l.entry64()).isEqualTo(Layout.KERNEL_START + 0x200);
        assertThat(mem.read(Layout.KERNEL_START, b.protectedModeSize))
                .isEqualTo(Arrays.copyOfRange(img, 5 * 512, img.length));
        // relocatable: runs at max(align_up(1 MiB, 2 MiB), pref_address 16 MiB) for init_size bytes
        assertThat(l.kernelEnd()).isEqualTo(0x100_0000 + 0x40_0000);
    }

    @Test
    void kernelEndFollowsAlignmentWhenAbovePrefAddress() {
        BzImageBuilder b = new BzImageBuilder();
        b.prefAddress = 0;
        SetupHeader h = SetupHeader.parse(b.build());
        assertThat(BzImageLoader.kernelEnd(h, 0x100000)).isEqualTo(0x20_0000 + 0x40_0000);
        b.relocatable = false;
        h = SetupHeader.parse(b.build());
        assertThat(BzImageLoader.kernelEnd(h, 0x100000)).isEqualTo(0x10_0000 + 0x40_0000);
    }

    @Test
    void rejectsKernelTooBigForRam() {
        BzImageBuilder b = new BzImageBuilder();
        b.initSize = 0x200_0000;
        GuestMemory mem = TestMemory.flat(16L << 20);
        assertThatThrownBy(() -> BzImageLoader.load(mem, b.build(), mem.size()))
                .isInstanceOf(BootException.class)
                .hasMessageContaining("kernel does not fit in guest RAM")
                .hasMessageContaining("init_size 0x2000000");
    }

    @Test
    void loadsTheRealDebianKernel() throws Exception {
        byte[] img = Files.readAllBytes(RealKernel.vmlinuz());
        GuestMemory mem = TestMemory.flat(128L << 20);
        BzImageLoader.Loaded l = BzImageLoader.load(mem, img, mem.size());
        assertThat(l.entry64()).isEqualTo(0x100200);
        assertThat(l.kernelEnd()).isEqualTo(l.header().prefAddress() + l.header().initSize());
        int off = (int) l.header().setupSize();
        assertThat(mem.read(Layout.KERNEL_START, 4096)).isEqualTo(Arrays.copyOfRange(img, off, off + 4096));
    }
}
