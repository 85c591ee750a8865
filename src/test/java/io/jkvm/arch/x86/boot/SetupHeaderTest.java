package io.jkvm.arch.x86.boot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class SetupHeaderTest {
    @Test
    void parsesSyntheticHeader() {
        BzImageBuilder b = new BzImageBuilder();
        SetupHeader h = SetupHeader.parse(b.build());
        assertThat(h.setupSects()).isEqualTo(4);
        assertThat(h.version()).isEqualTo(0x020f);
        assertThat(h.versionString()).isEqualTo("2.15");
        assertThat(h.bootFlag()).isEqualTo(0xaa55);
        assertThat(h.headerEnd()).isEqualTo(0x26c);
        assertThat(h.loadedHigh()).isTrue();
        assertThat(h.initrdAddrMax()).isEqualTo(0x7fffffffL);
        assertThat(h.kernelAlignment()).isEqualTo(0x200000);
        assertThat(h.relocatableKernel()).isTrue();
        assertThat(h.cmdlineSize()).isEqualTo(2047);
        assertThat(h.prefAddress()).isEqualTo(0x1000000);
        assertThat(h.initSize()).isEqualTo(0x400000);
        assertThat(h.handoverOffset()).isEqualTo(0x190);
        assertThat(h.code32Start()).isEqualTo(0x100000);
        assertThat(h.setupSize()).isEqualTo(5 * 512);
        assertThat(h.protectedModeSize()).isEqualTo(0x3000);
        h.requireBootable64();
    }

    @Test
    void zeroSetupSectsMeansFour() {
        BzImageBuilder b = new BzImageBuilder();
        b.setupSects = 0;
        assertThat(SetupHeader.parse(b.build()).setupSects()).isEqualTo(4);
    }

    @Test
    void parsesTheRealDebianKernel() throws Exception {
        byte[] image = Files.readAllBytes(RealKernel.vmlinuz());
        SetupHeader h = SetupHeader.parse(image);
        assertThat(h.version()).isGreaterThanOrEqualTo(0x020c);
        assertThat(h.hasXloadflag(SetupHeader.XLF_KERNEL_64)).isTrue();
        assertThat(h.relocatableKernel()).isTrue();
        assertThat(h.initSize()).isGreaterThan(h.protectedModeSize());
        assertThat(h.cmdlineSize()).isGreaterThanOrEqualTo(255);
        assertThat(h.headerEnd()).isGreaterThan(0x268);
        h.requireBootable64();
    }

    @Test
    void rejectsTooShortFile() {
        assertThatThrownBy(() -> SetupHeader.parse(new byte[100]))
                .isInstanceOf(KernelFormatException.class)
                .hasMessageContaining("too short");
    }

    @Test
    void rejectsMissingMagic() {
        byte[] img = new BzImageBuilder().build();
        img[0x202] = 'X';
        assertThatThrownBy(() -> SetupHeader.parse(img))
                .isInstanceOf(KernelFormatException.class)
                .hasMessage("not a Linux kernel: missing HdrS magic at 0x202");
    }

    @Test
    void rejectsBadBootFlag() {
        byte[] img = new BzImageBuilder().build();
        img[0x1fe] = 0;
        assertThatThrownBy(() -> SetupHeader.parse(img)).hasMessageContaining("boot_flag at 0x1fe is 0xaa00");
    }

    @Test
    void rejectsOldProtocolNamingTheVersion() {
        BzImageBuilder b = new BzImageBuilder();
        b.version = 0x0205;
        assertThatThrownBy(() -> SetupHeader.parse(b.build()))
                .isInstanceOf(KernelFormatException.class)
                .hasMessageContaining("2.05")
                .hasMessageContaining("at least 2.06");
    }

    @Test
    void rejectsSetupSectsBeyondFile() {
        BzImageBuilder b = new BzImageBuilder();
        byte[] img = Arrays.copyOf(b.build(), 5 * 512 + 16);
        img[0x1f1] = 60;
        assertThatThrownBy(() -> SetupHeader.parse(img))
                .isInstanceOf(KernelFormatException.class)
                .hasMessageContaining("setup_sects 60")
                .hasMessageContaining("beyond the file size");
    }

    @Test
    void rejectsHeaderShorterThanItsVersionNeeds() {
        BzImageBuilder b = new BzImageBuilder();
        b.headerLength = 0x30;
        assertThatThrownBy(() -> SetupHeader.parse(b.build())).hasMessageContaining("needs fields up to 0x268");
    }

    @Test
    void requireBootable64RejectsZImage() {
        BzImageBuilder b = new BzImageBuilder();
        b.loadFlags = 0;
        SetupHeader h = SetupHeader.parse(b.build());
        assertThatThrownBy(h::requireBootable64).hasMessageContaining("zImage");
    }

    @Test
    void requireBootable64RejectsMissing64BitEntry() {
        BzImageBuilder b = new BzImageBuilder();
        b.xloadFlags = 0;
        SetupHeader h = SetupHeader.parse(b.build());
        assertThatThrownBy(h::requireBootable64).hasMessageContaining("XLF_KERNEL_64");
    }

    @Test
    void requireBootable64RejectsProtocolWithoutXloadflags() {
        BzImageBuilder b = new BzImageBuilder();
        b.version = 0x020a;
        SetupHeader h = SetupHeader.parse(b.build());
        assertThat(h.xloadFlags()).isZero();
        assertThat(h.handoverOffset()).isZero();
        assertThatThrownBy(h::requireBootable64).hasMessageContaining("2.10 has no xloadflags");
    }
}
