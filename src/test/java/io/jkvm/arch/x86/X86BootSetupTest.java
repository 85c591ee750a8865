package io.jkvm.arch.x86;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.jkvm.arch.x86.acpi.Dsdt;
import io.jkvm.arch.x86.acpi.Madt;
import io.jkvm.arch.x86.boot.BootException;
import io.jkvm.arch.x86.boot.BzImageBuilder;
import io.jkvm.arch.x86.boot.ElfBuilder;
import io.jkvm.arch.x86.boot.KernelFormatException;
import io.jkvm.arch.x86.boot.PvhStartInfo;
import io.jkvm.arch.x86.boot.RealKernel;
import io.jkvm.arch.x86.cpu.BootCpuState;
import io.jkvm.arch.x86.e820.E820Map;
import io.jkvm.memory.GuestMemory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class X86BootSetupTest {
    @TempDir
    Path dir;

    private Path initrd(int size) throws Exception {
        byte[] b = new byte[size];
        for (int i = 0; i < size; i++) {
            b[i] = (byte) (i * 13 + 7);
        }
        return Files.write(dir.resolve("initrd"), b);
    }

    @Test
    void bzImageBootWritesEverything() throws Exception {
        long ram = 64L << 20;
        GuestMemory mem = TestMemory.of(ram);
        Path kernel = Files.write(dir.resolve("bzImage"), new BzImageBuilder().build());
        Path initrd = initrd(10_000);
        BootCpuState s = X86BootSetup.setup(mem, ram, 2, kernel, initrd, "console=ttyS0 panic=-1");

        assertThat(s).isEqualTo(BootCpuState.longMode(Layout.KERNEL_START + 0x200, Layout.ZERO_PAGE));
        long zp = Layout.ZERO_PAGE;
        assertThat(mem.readInt(zp + 0x202)).isEqualTo(0x53726448);
        assertThat(mem.readInt(zp + 0x228)).isEqualTo((int) Layout.CMDLINE);
        assertThat(new String(mem.read(Layout.CMDLINE, 24))).isEqualTo("console=ttyS0 panic=-1\0\0");
        long rd = mem.readInt(zp + 0x218) & 0xffffffffL;
        assertThat(mem.readInt(zp + 0x21c)).isEqualTo(10_000);
        assertThat(rd % 4096).isZero();
        assertThat(rd + 10_000).isLessThanOrEqualTo(ram);
        assertThat(rd).isGreaterThanOrEqualTo(0x100_0000 + 0x40_0000);
        assertThat(mem.read(rd, 10_000)).isEqualTo(Files.readAllBytes(initrd));
        assertThat(mem.readByte(zp + 0x1e8)).isEqualTo((byte) 3);
        assertThat(mem.read(zp + 0x2d0, 60)).isEqualTo(E820Map.forRam(ram).toBootParamsTable());
        assertThat(mem.readLong(zp + 0x070)).isEqualTo(Layout.ACPI_START);
        assertThat(new String(mem.read(Layout.ACPI_START, 8))).isEqualTo("RSD PTR ");
        assertThat(mem.readLong(Layout.PML4)).isEqualTo(Layout.PDPT | 3);
        assertThat(mem.readLong(Layout.BOOT_GDT + 0x10)).isEqualTo(0x00af9b000000ffffL);
    }

    @Test
    void theAcpiTablesDescribeTheConfiguredVirtioMmioDevices() throws Exception {
        long ram = 64L << 20;
        Path kernel = Files.write(dir.resolve("bzImage"), new BzImageBuilder().build());
        List<VirtioMmioWindow> windows = List.of(VirtioMmioWindow.ofSlot(0), VirtioMmioWindow.ofSlot(1));
        GuestMemory mmio = TestMemory.of(ram);
        X86BootSetup.setup(mmio, new X86BootSetup.Config(ram, 1, kernel, null, "", windows));
        GuestMemory pci = TestMemory.of(ram);
        X86BootSetup.setup(pci, new X86BootSetup.Config(ram, 1, kernel, null, ""));

        int acpiSize = (int) (Layout.ACPI_END - Layout.ACPI_START);
        String withMmio = new String(mmio.read(Layout.ACPI_START, acpiSize), StandardCharsets.ISO_8859_1);
        String without = new String(pci.read(Layout.ACPI_START, acpiSize), StandardCharsets.ISO_8859_1);
        assertThat(withMmio).contains(new String(Dsdt.build(windows), StandardCharsets.ISO_8859_1))
                .contains(new String(Madt.build(1, windows), StandardCharsets.ISO_8859_1));
        assertThat(without).doesNotContain("LNRO0005")
                .contains(new String(Dsdt.build(), StandardCharsets.ISO_8859_1));
        assertThat(new X86BootSetup.Config(ram, 1, kernel, null, "").virtioMmio()).isEmpty();
    }

    @Test
    void elfBootUsesPvh() throws Exception {
        long ram = 64L << 20;
        GuestMemory mem = TestMemory.of(ram);
        byte[] text = new byte[0x1000];
        Arrays.fill(text, (byte) 0x90);
        Path kernel = Files.write(dir.resolve("vmlinux"), new ElfBuilder().load(0x100_0000, text, 0x20_0000).build());
        Path initrd = initrd(5000);
        BootCpuState s = X86BootSetup.setup(mem, ram, 1, kernel, initrd, "console=hvc0");

        assertThat(s).isEqualTo(BootCpuState.pvh(0x100_0040, Layout.PVH_INFO));
        assertThat(mem.read(0x100_0000, 0x1000)).isEqualTo(text);
        assertThat(mem.readInt(Layout.PVH_INFO)).isEqualTo(PvhStartInfo.MAGIC);
        assertThat(mem.readLong(Layout.PVH_INFO + 0x18)).isEqualTo(Layout.CMDLINE);
        assertThat(mem.readLong(Layout.PVH_INFO + 0x20)).isEqualTo(Layout.ACPI_START);
        assertThat(mem.readInt(Layout.PVH_INFO + 0x0c)).isEqualTo(1);
        long rd = mem.readLong(PvhStartInfo.MODLIST);
        assertThat(rd).isGreaterThanOrEqualTo(0x120_0000);
        assertThat(mem.read(rd, 5000)).isEqualTo(Files.readAllBytes(initrd));
        assertThat(new String(mem.read(Layout.CMDLINE, 13))).isEqualTo("console=hvc0\0");
    }

    @Test
    void elfWithoutPvhNoteIsRejected() throws Exception {
        ElfBuilder b = new ElfBuilder().load(0x100_0000, new byte[16], 16);
        b.pvhEntry = -1;
        Path kernel = Files.write(dir.resolve("vmlinux"), b.build());
        assertThatThrownBy(() -> X86BootSetup.setup(TestMemory.of(32L << 20), 32L << 20, 1, kernel, null, ""))
                .isInstanceOf(KernelFormatException.class)
                .hasMessage("vmlinux has no PVH entry note (kernel built without CONFIG_PVH)");
    }

    @Test
    void userErrorsAreClear() throws Exception {
        long ram = 32L << 20;
        GuestMemory mem = TestMemory.of(ram);
        Path kernel = Files.write(dir.resolve("bzImage"), new BzImageBuilder().build());
        assertThatThrownBy(() -> X86BootSetup.setup(mem, ram, 1, kernel, null, "x".repeat(3000)))
                .isInstanceOf(BootException.class)
                .hasMessageContaining("kernel command line is 3000 bytes; the kernel accepts at most 2047");
        Path big = initrd(20 << 20);
        assertThatThrownBy(() -> X86BootSetup.setup(mem, ram, 1, kernel, big, ""))
                .isInstanceOf(BootException.class)
                .hasMessageContaining("does not fit");
        BzImageBuilder huge = new BzImageBuilder();
        huge.initSize = 64 << 20;
        Path hugeKernel = Files.write(dir.resolve("huge"), huge.build());
        assertThatThrownBy(() -> X86BootSetup.setup(mem, ram, 1, hugeKernel, null, ""))
                .isInstanceOf(BootException.class)
                .hasMessageContaining("kernel does not fit in guest RAM");
        Path junk = Files.write(dir.resolve("junk"), new byte[1000]);
        assertThatThrownBy(() -> X86BootSetup.setup(mem, ram, 1, junk, null, ""))
                .isInstanceOf(KernelFormatException.class)
                .hasMessageContaining("not a kernel image");
        assertThatThrownBy(() -> X86BootSetup.setup(mem, ram, 0, kernel, null, ""))
                .isInstanceOf(BootException.class)
                .hasMessageContaining("vCPU count 0");
        assertThatThrownBy(() -> X86BootSetup.setup(mem, 64L << 20, 1, kernel, null, ""))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("does not back RAM range");
    }

    @Test
    void realDebianKernelAndInitrd() throws Exception {
        Path kernel = RealKernel.vmlinuz();
        Path initrd = RealKernel.initrd();
        long ram = 256L << 20;
        GuestMemory mem = TestMemory.of(ram);
        BootCpuState s = X86BootSetup.setup(mem, ram, 4, kernel, initrd, "console=ttyS0 reboot=k panic=-1");
        assertThat(s.rip()).isEqualTo(0x100200);
        long zp = Layout.ZERO_PAGE;
        long rd = mem.readInt(zp + 0x218) & 0xffffffffL;
        long size = mem.readInt(zp + 0x21c) & 0xffffffffL;
        assertThat(size).isEqualTo(Files.size(initrd));
        assertThat(rd + size).isLessThanOrEqualTo(ram);
        int initSize = mem.readInt(zp + 0x260);
        long pref = mem.readLong(zp + 0x258);
        assertThat(rd).isGreaterThanOrEqualTo(pref + initSize);
        byte[] head = new byte[4096];
        try (var in = Files.newInputStream(initrd)) {
            assertThat(in.readNBytes(head, 0, head.length)).isEqualTo(4096);
        }
        assertThat(mem.read(rd, 4096)).isEqualTo(head);
        assertThat(mem.readByte(zp + 0x210)).isEqualTo((byte) 0xff);
    }

    @Test
    void realKernelInTooLittleRamIsAClearError() throws Exception {
        Path kernel = RealKernel.vmlinuz();
        long ram = 32L << 20;
        assertThatThrownBy(() -> X86BootSetup.setup(TestMemory.of(ram), ram, 1, kernel, null, ""))
                .isInstanceOf(BootException.class)
                .hasMessageContaining("kernel does not fit in guest RAM");
    }
}
