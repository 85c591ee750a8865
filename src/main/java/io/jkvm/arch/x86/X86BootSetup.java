package io.jkvm.arch.x86;

import io.jkvm.arch.x86.acpi.AcpiTables;
import io.jkvm.arch.x86.acpi.Madt;
import io.jkvm.arch.x86.boot.BootException;
import io.jkvm.arch.x86.boot.BootParams;
import io.jkvm.arch.x86.boot.BzImageLoader;
import io.jkvm.arch.x86.boot.CommandLine;
import io.jkvm.arch.x86.boot.ElfKernel;
import io.jkvm.arch.x86.boot.InitrdPlacement;
import io.jkvm.arch.x86.boot.KernelImage;
import io.jkvm.arch.x86.boot.PvhStartInfo;
import io.jkvm.arch.x86.cpu.BootCpuState;
import io.jkvm.arch.x86.cpu.BootGdt;
import io.jkvm.arch.x86.cpu.PageTables;
import io.jkvm.arch.x86.e820.E820Map;
import io.jkvm.memory.GuestMemory;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Puts everything a Linux guest needs to start into guest RAM and says how the boot CPU must
 * look: kernel, optional initrd, command line, boot_params (bzImage) or hvm_start_info (ELF
 * vmlinux via PVH), e820 map, ACPI tables, boot GDT/IDT and identity page tables.
 *
 * <p>User errors (unusable kernel, kernel or initrd not fitting in RAM, command line too long)
 * are {@link BootException}s with a message ready to show; I/O problems reading the files are
 * {@link IOException}s. A missing file is the caller's business.
 */
public final class X86BootSetup {
    private static final Logger LOG = LoggerFactory.getLogger(X86BootSetup.class);

    private X86BootSetup() {}

    /**
     * What to boot.
     *
     * @param initrd the initrd, or null for none
     * @param virtioMmio the VM's virtio-mmio devices in attach order, which the ACPI tables
     *     describe (empty for a PCI VM)
     */
    public record Config(long ramSize, int vcpus, Path kernel, Path initrd, String cmdline,
            List<VirtioMmioWindow> virtioMmio) {
        public Config {
            virtioMmio = List.copyOf(virtioMmio);
        }

        /** A VM without virtio-mmio devices. */
        public Config(long ramSize, int vcpus, Path kernel, Path initrd, String cmdline) {
            this(ramSize, vcpus, kernel, initrd, cmdline, List.of());
        }
    }

    /**
     * Writes all boot data for {@code cfg} into {@code mem} (which must back every range of
     * {@link RamLayout#ranges} for {@code cfg.ramSize()}) and returns the BSP's initial state.
     */
    public static BootCpuState setup(GuestMemory mem, Config cfg) throws IOException {
        long ram = cfg.ramSize();
        try {
            RamLayout.validate(ram);
        } catch (IllegalArgumentException e) {
            throw new BootException(e.getMessage());
        }
        if (cfg.vcpus() < 1 || cfg.vcpus() > Madt.MAX_VCPUS) {
            throw new BootException("vCPU count " + cfg.vcpus() + " is outside the supported 1.." + Madt.MAX_VCPUS);
        }
        for (RamLayout.Range r : RamLayout.ranges(ram)) {
            if (!mem.isValid(r.start(), r.size())) {
                throw new IllegalArgumentException(String.format(
                        "guest memory does not back RAM range [0x%x, 0x%x)", r.start(), r.end()));
            }
        }
        long lowEnd = RamLayout.lowRamEnd(ram);
        KernelImage.Kind kind = KernelImage.require(cfg.kernel());
        byte[] kernel = readKernel(cfg.kernel(), lowEnd);
        E820Map e820 = E820Map.forRam(ram);
        AcpiTables.Written acpi = AcpiTables.write(mem, cfg.vcpus(), cfg.virtioMmio());
        // For guests booted with acpi=off (Kata's Firecracker guests are): the same machine in MPS terms.
        io.jkvm.arch.x86.mptable.MpTables.write(mem, cfg.vcpus(), cfg.virtioMmio(), acpi.end());
        BootGdt.write(mem);
        mem.fill(Layout.CMDLINE, Layout.CMDLINE_MAX, (byte) 0);

        BootCpuState bsp;
        if (kind == KernelImage.Kind.BZIMAGE) {
            BzImageLoader.Loaded k = BzImageLoader.load(mem, kernel, lowEnd);
            byte[] cmdline = CommandLine.encode(cfg.cmdline(), k.header().cmdlineSize(),
                    "cmdline_size in the kernel header");
            mem.write(Layout.CMDLINE, cmdline);
            BootParams bp = new BootParams(kernel, k.header())
                    .commandLine(Layout.CMDLINE)
                    .e820(e820)
                    .acpiRsdp(acpi.rsdp());
            if (cfg.initrd() != null) {
                long size = Files.size(cfg.initrd());
                long at = InitrdPlacement.place(size, k.kernelEnd(), k.header().initrdAddrMax(), lowEnd);
                loadFile(mem, cfg.initrd(), at, size);
                bp.ramdisk(at, size);
                LOG.info("initrd: {} bytes at 0x{}", size, Long.toHexString(at));
            }
            mem.write(Layout.ZERO_PAGE, bp.toBytes());
            PageTables.write(mem);
            LOG.info("bzImage (boot protocol {}): 64-bit entry at 0x{}, kernel footprint ends at 0x{}",
                    k.header().versionString(), Long.toHexString(k.entry64()), Long.toHexString(k.kernelEnd()));
            bsp = BootCpuState.longMode(k.entry64(), Layout.ZERO_PAGE);
        } else {
            ElfKernel elf = ElfKernel.parse(kernel);
            long entry = elf.requirePvhEntry();
            elf.load(mem, kernel, lowEnd);
            mem.write(Layout.CMDLINE, CommandLine.encode(cfg.cmdline(),
                    CommandLine.LINUX_COMMAND_LINE_SIZE - 1, "Linux's x86 COMMAND_LINE_SIZE of 2048"));
            PvhStartInfo.Module module = null;
            if (cfg.initrd() != null) {
                long size = Files.size(cfg.initrd());
                long at = InitrdPlacement.place(size, elf.end(), Layout.FOUR_GIB - 1, lowEnd);
                loadFile(mem, cfg.initrd(), at, size);
                module = new PvhStartInfo.Module(at, size);
                LOG.info("initrd: {} bytes at 0x{}", size, Long.toHexString(at));
            }
            PvhStartInfo.write(mem, Layout.CMDLINE, module, acpi.rsdp(), e820);
            LOG.info("ELF vmlinux: PVH entry at 0x{}, kernel ends at 0x{}",
                    Long.toHexString(entry), Long.toHexString(elf.end()));
            bsp = BootCpuState.pvh(entry, Layout.PVH_INFO);
        }
        return bsp;
    }

    /** Convenience form of {@link #setup(GuestMemory, Config)}; {@code initrd} may be null. */
    public static BootCpuState setup(GuestMemory mem, long ramSize, int vcpus, Path kernel, Path initrd,
            String cmdline) throws IOException {
        return setup(mem, new Config(ramSize, vcpus, kernel, initrd, cmdline));
    }

    private static byte[] readKernel(Path kernel, long lowEnd) throws IOException {
        long size = Files.size(kernel);
        if (size > lowEnd - Layout.KERNEL_START || size > Integer.MAX_VALUE - 64) {
            throw new BootException(String.format(
                    "kernel file %s is %d MiB, more than the %d MiB of guest RAM available for it",
                    kernel, size >> 20, (lowEnd - Layout.KERNEL_START) >> 20));
        }
        return Files.readAllBytes(kernel);
    }

    /** Streams {@code size} bytes of {@code file} straight into guest RAM at {@code gpa}. */
    static void loadFile(GuestMemory mem, Path file, long gpa, long size) throws IOException {
        final long chunk = 1L << 30;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long done = 0;
            while (done < size) {
                long n = Math.min(chunk, size - done);
                ByteBuffer dst = mem.slice(gpa + done, n).asByteBuffer();
                while (dst.hasRemaining()) {
                    if (ch.read(dst) < 0) {
                        throw new BootException(file + " shrank while being loaded (expected " + size + " bytes)");
                    }
                }
                done += n;
            }
        }
    }
}
