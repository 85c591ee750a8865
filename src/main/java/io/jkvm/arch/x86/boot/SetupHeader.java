package io.jkvm.arch.x86.boot;

/**
 * The real-mode setup header of a bzImage (Linux Documentation/arch/x86/boot.rst, "The Real-Mode
 * Kernel Header"; struct setup_header in asm/bootparam.h). Offsets below are file offsets, which
 * equal the offsets inside boot_params because the header is copied verbatim to 0x1f1.
 *
 * <p>{@link #parse} accepts any byte array and either returns a header whose offsets are proven to
 * lie inside the file or throws {@link KernelFormatException} naming the problem.
 *
 * @param setupSects number of 512-byte setup sectors (0 in the file already normalised to 4)
 * @param headerEnd file offset one past the header, from the jump at 0x200 (0x202 + byte 0x201)
 * @param version boot protocol version, major in bits 15:8 (0x020f = 2.15)
 */
public record SetupHeader(
        int setupSects,
        int bootFlag,
        int version,
        int loadFlags,
        long code32Start,
        long ramdiskImage,
        long ramdiskSize,
        int heapEndPtr,
        long cmdLinePtr,
        long initrdAddrMax,
        long kernelAlignment,
        boolean relocatableKernel,
        int xloadFlags,
        long cmdlineSize,
        long prefAddress,
        long initSize,
        long handoverOffset,
        int headerEnd,
        long fileSize) {

    public static final int OFF_SETUP_SECTS = 0x1f1;
    public static final int OFF_VID_MODE = 0x1fa;
    public static final int OFF_BOOT_FLAG = 0x1fe;
    public static final int OFF_JUMP = 0x200;
    public static final int OFF_HEADER = 0x202;
    public static final int OFF_VERSION = 0x206;
    public static final int OFF_TYPE_OF_LOADER = 0x210;
    public static final int OFF_LOADFLAGS = 0x211;
    public static final int OFF_CODE32_START = 0x214;
    public static final int OFF_RAMDISK_IMAGE = 0x218;
    public static final int OFF_RAMDISK_SIZE = 0x21c;
    public static final int OFF_HEAP_END_PTR = 0x224;
    public static final int OFF_CMD_LINE_PTR = 0x228;
    public static final int OFF_INITRD_ADDR_MAX = 0x22c;
    public static final int OFF_KERNEL_ALIGNMENT = 0x230;
    public static final int OFF_RELOCATABLE_KERNEL = 0x234;
    public static final int OFF_XLOADFLAGS = 0x236;
    public static final int OFF_CMDLINE_SIZE = 0x238;
    public static final int OFF_SETUP_DATA = 0x250;
    public static final int OFF_PREF_ADDRESS = 0x258;
    public static final int OFF_INIT_SIZE = 0x260;
    public static final int OFF_HANDOVER_OFFSET = 0x264;

    /** "HdrS" read as a little-endian u32. */
    public static final long HDRS_MAGIC = 0x53726448L;
    public static final int BOOT_FLAG = 0xaa55;
    /** Oldest protocol we accept: 2.06 introduced cmdline_size. */
    public static final int MIN_VERSION = 0x0206;
    /** xloadflags appeared in 2.12; the 64-bit entry needs them. */
    public static final int XLOADFLAGS_VERSION = 0x020c;
    /** acpi_rsdp_addr in boot_params is honoured from 2.14. */
    public static final int ACPI_RSDP_VERSION = 0x020e;

    public static final int LOADED_HIGH = 1;
    public static final int KEEP_SEGMENTS = 1 << 6;
    public static final int CAN_USE_HEAP = 1 << 7;
    public static final int XLF_KERNEL_64 = 1;
    public static final int XLF_CAN_BE_LOADED_ABOVE_4G = 1 << 1;

    public static SetupHeader parse(byte[] image) {
        LeBytes f = new LeBytes(image, "bzImage");
        if (image.length < OFF_HEADER + 4) {
            throw new KernelFormatException(String.format(
                    "not a Linux kernel: file is only %d bytes, too short to hold a setup header (HdrS at 0x202)",
                    image.length));
        }
        if (f.u32(OFF_HEADER, "header magic") != HDRS_MAGIC) {
            throw new KernelFormatException("not a Linux kernel: missing HdrS magic at 0x202");
        }
        int bootFlag = f.u16(OFF_BOOT_FLAG, "boot_flag");
        if (bootFlag != BOOT_FLAG) {
            throw new KernelFormatException(String.format(
                    "not a Linux kernel: boot_flag at 0x1fe is 0x%04x, expected 0xaa55", bootFlag));
        }
        int version = f.u16(OFF_VERSION, "version");
        if (version < MIN_VERSION) {
            throw new KernelFormatException(String.format(
                    "kernel boot protocol %s is too old: jkvm needs at least 2.06", versionString(version)));
        }
        int headerEnd = OFF_HEADER + f.u8(OFF_JUMP + 1, "header length (jump at 0x200)");
        int needed = version >= 0x020b ? OFF_HANDOVER_OFFSET + 4
                : version >= 0x020a ? OFF_INIT_SIZE + 4
                : OFF_CMDLINE_SIZE + 4;
        if (headerEnd < needed) {
            throw new KernelFormatException(String.format(
                    "setup header ends at 0x%x (jump at 0x200) but protocol %s needs fields up to 0x%x",
                    headerEnd, versionString(version), needed));
        }
        f.require(OFF_SETUP_SECTS, headerEnd - OFF_SETUP_SECTS, "setup header");
        int sects = f.u8(OFF_SETUP_SECTS, "setup_sects");
        if (sects == 0) {
            sects = 4; // boot.rst: "If this field is 0, the real value is 4."
        }
        long setupSize = (sects + 1L) * 512;
        if (setupSize >= image.length) {
            throw new KernelFormatException(String.format(
                    "setup_sects %d puts the protected-mode kernel at 0x%x, at or beyond the file size 0x%x",
                    sects, setupSize, image.length));
        }
        if (setupSize < headerEnd) {
            throw new KernelFormatException(String.format(
                    "setup_sects %d makes the setup area (0x%x bytes) smaller than its own header (ends at 0x%x)",
                    sects, setupSize, headerEnd));
        }
        boolean v210 = version >= 0x020a;
        boolean v211 = version >= 0x020b;
        boolean v212 = version >= XLOADFLAGS_VERSION;
        return new SetupHeader(
                sects,
                bootFlag,
                version,
                f.u8(OFF_LOADFLAGS, "loadflags"),
                f.u32(OFF_CODE32_START, "code32_start"),
                f.u32(OFF_RAMDISK_IMAGE, "ramdisk_image"),
                f.u32(OFF_RAMDISK_SIZE, "ramdisk_size"),
                f.u16(OFF_HEAP_END_PTR, "heap_end_ptr"),
                f.u32(OFF_CMD_LINE_PTR, "cmd_line_ptr"),
                f.u32(OFF_INITRD_ADDR_MAX, "initrd_addr_max"),
                f.u32(OFF_KERNEL_ALIGNMENT, "kernel_alignment"),
                f.u8(OFF_RELOCATABLE_KERNEL, "relocatable_kernel") != 0,
                v212 ? f.u16(OFF_XLOADFLAGS, "xloadflags") : 0,
                f.u32(OFF_CMDLINE_SIZE, "cmdline_size"),
                v210 ? f.u64(OFF_PREF_ADDRESS, "pref_address") : 0,
                v210 ? f.u32(OFF_INIT_SIZE, "init_size") : 0,
                v211 ? f.u32(OFF_HANDOVER_OFFSET, "handover_offset") : 0,
                headerEnd,
                image.length);
    }

    /** Bytes of the real-mode setup area at the start of the file; the protected-mode kernel follows. */
    public long setupSize() {
        return (setupSects + 1L) * 512;
    }

    /** Size of the protected-mode part (what gets loaded at {@code Layout.KERNEL_START}). */
    public long protectedModeSize() {
        return fileSize - setupSize();
    }

    public boolean loadedHigh() {
        return (loadFlags & LOADED_HIGH) != 0;
    }

    public boolean hasXloadflag(int flag) {
        return (xloadFlags & flag) != 0;
    }

    /**
     * Checks what the 64-bit boot protocol (boot.rst, "64-bit Boot Protocol") needs from the
     * kernel: a bzImage (LOADED_HIGH), protocol 2.12+ so xloadflags exist, and XLF_KERNEL_64.
     */
    public void requireBootable64() {
        if (!loadedHigh()) {
            throw new KernelFormatException(
                    "kernel is a zImage (loadflags LOADED_HIGH clear); only bzImage kernels are supported");
        }
        if (version < XLOADFLAGS_VERSION) {
            throw new KernelFormatException(String.format(
                    "kernel boot protocol %s has no xloadflags (added in 2.12): cannot confirm a 64-bit entry point",
                    versionString(version)));
        }
        if (!hasXloadflag(XLF_KERNEL_64)) {
            throw new KernelFormatException(
                    "kernel has no 64-bit entry point (xloadflags XLF_KERNEL_64 at 0x236 clear)");
        }
        if (initSize == 0) {
            throw new KernelFormatException("kernel header init_size at 0x260 is 0");
        }
    }

    /** "2.15" for 0x020f. */
    public static String versionString(int version) {
        return (version >>> 8) + "." + String.format("%02d", version & 0xff);
    }

    public String versionString() {
        return versionString(version);
    }
}
