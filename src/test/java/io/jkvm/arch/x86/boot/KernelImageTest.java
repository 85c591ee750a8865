package io.jkvm.arch.x86.boot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class KernelImageTest {
    @TempDir
    Path dir;

    @Test
    void detectsFormats() throws Exception {
        Path bz = Files.write(dir.resolve("bz"), new BzImageBuilder().build());
        Path elf = Files.write(dir.resolve("elf"), new ElfBuilder().load(0x100_0000, new byte[8], 8).build());
        Path junk = Files.write(dir.resolve("junk"), "hello".getBytes());
        assertThat(KernelImage.detect(bz)).isEqualTo(KernelImage.Kind.BZIMAGE);
        assertThat(KernelImage.detect(elf)).isEqualTo(KernelImage.Kind.ELF);
        assertThat(KernelImage.detect(junk)).isEqualTo(KernelImage.Kind.UNKNOWN);
        assertThat(KernelImage.detect(new byte[0])).isEqualTo(KernelImage.Kind.UNKNOWN);
        assertThatThrownBy(() -> KernelImage.require(junk))
                .isInstanceOf(KernelFormatException.class)
                .hasMessageStartingWith("not a kernel image: neither a bzImage (no HdrS) nor an ELF file");
    }

    @Test
    void detectsTheRealKernelAsBzImage() throws Exception {
        assertThat(KernelImage.detect(RealKernel.vmlinuz())).isEqualTo(KernelImage.Kind.BZIMAGE);
    }
}
