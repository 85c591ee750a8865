package io.jkvm.arch.x86.boot;

import io.jkvm.arch.x86.e820.E820Map;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Builds struct boot_params, the 4 KiB "zero page" (Linux Documentation/arch/x86/zero-page.rst
 * and boot.rst). Starts as zeros with the kernel's own setup header copied to 0x1f1 (boot.rst:
 * "the setup header ... should be copied from the kernel image"), then the loader-owned fields are
 * filled in.
 */
public final class BootParams {
    public static final int SIZE = 4096;
    public static final int OFF_ACPI_RSDP_ADDR = 0x070;
    public static final int OFF_EXT_RAMDISK_IMAGE = 0x0c0;
    public static final int OFF_EXT_RAMDISK_SIZE = 0x0c4;
    public static final int OFF_EXT_CMD_LINE_PTR = 0x0c8;
    public static final int OFF_E820_ENTRIES = 0x1e8;
    /** The setup header area ends where edd_mbr_sig_buffer starts. */
    public static final int HEADER_AREA_END = 0x290;
    public static final int OFF_E820_TABLE = 0x2d0;
    /** Loader type "undefined" (boot.rst type_of_loader: 0xFF, no assigned ID). */
    public static final int LOADER_TYPE_UNDEFINED = 0xff;
    /** boot.rst sample loader: heap_end = 0xe000 for protocol &gt;= 2.02, heap_end_ptr = heap_end - 0x200. */
    public static final int HEAP_END_PTR = 0xe000 - 0x200;
    /** vid_mode "normal" (boot.rst: 0xFFFF). */
    public static final int VID_MODE_NORMAL = 0xffff;

    private final ByteBuffer page = ByteBuffer.allocate(SIZE).order(ByteOrder.LITTLE_ENDIAN);
    private final SetupHeader header;

    /** Starts from the kernel file's setup header (bytes 0x1f1 up to the header's end). */
    public BootParams(byte[] kernelImage, SetupHeader header) {
        this.header = header;
        int end = Math.min(Math.min(header.headerEnd(), HEADER_AREA_END), kernelImage.length);
        page.put(SetupHeader.OFF_SETUP_SECTS, kernelImage, SetupHeader.OFF_SETUP_SECTS,
                end - SetupHeader.OFF_SETUP_SECTS);
        page.put(SetupHeader.OFF_TYPE_OF_LOADER, (byte) LOADER_TYPE_UNDEFINED);
        page.putShort(SetupHeader.OFF_VID_MODE, (short) VID_MODE_NORMAL);
        int flags = header.loadFlags() | SetupHeader.LOADED_HIGH | SetupHeader.CAN_USE_HEAP;
        page.put(SetupHeader.OFF_LOADFLAGS, (byte) flags);
        page.putShort(SetupHeader.OFF_HEAP_END_PTR, (short) HEAP_END_PTR);
        page.putLong(SetupHeader.OFF_SETUP_DATA, 0);
        // Loader-owned fields: never pass through whatever the file happened to contain.
        page.putInt(SetupHeader.OFF_RAMDISK_IMAGE, 0);
        page.putInt(SetupHeader.OFF_RAMDISK_SIZE, 0);
        page.putInt(SetupHeader.OFF_CMD_LINE_PTR, 0);
    }

    /** cmd_line_ptr (low 32 bits) and ext_cmd_line_ptr (high 32 bits). */
    public BootParams commandLine(long address) {
        page.putInt(SetupHeader.OFF_CMD_LINE_PTR, (int) address);
        page.putInt(OFF_EXT_CMD_LINE_PTR, (int) (address >>> 32));
        return this;
    }

    /** ramdisk_image/size with their ext_ high halves (boot.rst; honoured above 4 GiB with XLF_CAN_BE_LOADED_ABOVE_4G). */
    public BootParams ramdisk(long address, long size) {
        if ((address >>> 32 != 0 || size >>> 32 != 0)
                && !header.hasXloadflag(SetupHeader.XLF_CAN_BE_LOADED_ABOVE_4G)) {
            throw new BootException("initrd above 4 GiB but the kernel lacks XLF_CAN_BE_LOADED_ABOVE_4G");
        }
        page.putInt(SetupHeader.OFF_RAMDISK_IMAGE, (int) address);
        page.putInt(SetupHeader.OFF_RAMDISK_SIZE, (int) size);
        page.putInt(OFF_EXT_RAMDISK_IMAGE, (int) (address >>> 32));
        page.putInt(OFF_EXT_RAMDISK_SIZE, (int) (size >>> 32));
        return this;
    }

    /** e820_entries at 0x1e8 and e820_table at 0x2d0. */
    public BootParams e820(E820Map map) {
        byte[] table = map.toBootParamsTable();
        page.put(OFF_E820_ENTRIES, (byte) map.size());
        page.put(OFF_E820_TABLE, table);
        return this;
    }

    /** acpi_rsdp_addr (protocol 2.14+); older kernels find the RSDP by scanning 0xE0000. */
    public BootParams acpiRsdp(long address) {
        if (header.version() >= SetupHeader.ACPI_RSDP_VERSION) {
            page.putLong(OFF_ACPI_RSDP_ADDR, address);
        }
        return this;
    }

    public byte[] toBytes() {
        return page.array().clone();
    }
}
