package io.jkvm.arch.x86;

/**
 * The guest-physical memory map and fixed port assignments of a jkvm x86-64 machine.
 * One place, so the e820 map, ACPI tables, loaders and device wiring agree.
 */
public final class Layout {
    private Layout() {}

    // --- Low memory (below 1 MiB) ---
    /** Boot GDT used for the 64-bit entry (Linux boot protocol, "64-bit boot protocol"). */
    public static final long BOOT_GDT = 0x500;
    /** Boot IDT (empty: the kernel installs its own before enabling interrupts). */
    public static final long BOOT_IDT = 0x520;
    /** PVH start info (struct hvm_start_info) and its memory map follow it. */
    public static final long PVH_INFO = 0x6000;
    /** boot_params ("zero page"). */
    public static final long ZERO_PAGE = 0x7000;
    /** Initial stack pointer for the BSP. */
    public static final long BOOT_STACK = 0x8ff0;
    /** Identity page tables: PML4, PDPT, and PDs mapping the first 4 GiB with 2 MiB pages. */
    public static final long PML4 = 0x9000;
    public static final long PDPT = 0xa000;
    public static final long PD = 0xb000; // four consecutive pages 0xb000..0xefff
    /** Kernel command line (COMMAND_LINE_SIZE is at most 2048 on x86; we allow up to 4 KiB). */
    public static final long CMDLINE = 0x20000;
    public static final int CMDLINE_MAX = 4096;
    /** Extended BIOS data area start; [EBDA_START, 1 MiB) is reserved in e820. */
    public static final long EBDA_START = 0x9fc00;
    /** ACPI tables: RSDP first (Linux also scans 0xE0000-0xFFFFF for it), the rest after. */
    public static final long ACPI_START = 0xe0000;
    public static final long ACPI_END = 0x100000;
    /** Where the protected-mode kernel is loaded (HIMEM). */
    public static final long KERNEL_START = 0x100000;

    // --- 32-bit hole for devices ---
    /** RAM below 4 GiB ends here at the latest; [MMIO32_START, 4 GiB) is the device hole. */
    public static final long MMIO32_START = 0xc000_0000L;
    /** PCI 32-bit memory window (BARs) inside the hole. */
    public static final long PCI_MMIO32_START = 0xc000_0000L;
    public static final long PCI_MMIO32_END = 0xfc00_0000L;
    /**
     * virtio-mmio device windows, 4 KiB each (virtio 1.2 §4.2.2), slot {@code i} at
     * {@code VIRTIO_MMIO_START + i * 4 KiB} ({@link VirtioMmioSlots}). Firecracker puts them at
     * 0xd0000000, but here that is inside the PCI window the DSDT gives the host bridge, where
     * Linux may place BARs; the gap between that window's end and the IOAPIC is in no bridge's _CRS and
     * never RAM ({@link RamLayout} stops below {@link #MMIO32_START}), and the e820 map leaves
     * it out, so nothing but these devices claims it.
     */
    public static final long VIRTIO_MMIO_START = PCI_MMIO32_END;
    public static final long VIRTIO_MMIO_END = VIRTIO_MMIO_START + 0x10_0000L; // 1 MiB reserved, 256 windows
    public static final long IOAPIC_BASE = 0xfec0_0000L;
    /** The IOAPIC's register window (82093AA: IOREGSEL at +0, IOWIN at +0x10), and the LAPIC's page. */
    public static final long IOAPIC_SIZE = 0x1000;
    public static final long LAPIC_SIZE = 0x1000;
    public static final long LAPIC_BASE = 0xfee0_0000L;
    /** KVM_SET_IDENTITY_MAP_ADDR page and KVM_SET_TSS_ADDR's three pages (api.rst). */
    public static final long IDENTITY_MAP_ADDR = 0xfffb_c000L;
    public static final long TSS_ADDR = 0xfffb_d000L;
    public static final long FOUR_GIB = 0x1_0000_0000L;

    // --- Ports ---
    public static final int COM1_PORT = 0x3f8;
    public static final int COM1_IRQ = 4;
    /** COM2's ISA IRQ: no jkvm device uses it, but Linux's 8250 driver probes it, so it stays free. */
    public static final int COM2_IRQ = 3;
    /** i8042 keyboard and auxiliary (mouse) ISA IRQs. */
    public static final int I8042_KBD_IRQ = 1;
    public static final int I8042_AUX_IRQ = 12;
    /** CMOS RTC's ISA IRQ. */
    public static final int RTC_IRQ = 8;
    public static final int I8042_PORT = 0x60; // data 0x60, command/status 0x64
    public static final int RTC_PORT = 0x70; // index 0x70, data 0x71
    public static final int PCI_CONFIG_PORT = 0xcf8; // 0xcf8 address, 0xcfc..0xcff data
    /**
     * ACPI hardware-reduced power management (ACPI 6.x, 4.8.3.7 Sleep Control/Status registers,
     * 4.8.3.6 Reset register): sleep control at +0, sleep status at +1, reset at +2.
     */
    public static final int ACPI_PM_PORT = 0x3c0;
    public static final int ACPI_SLEEP_CONTROL_PORT = ACPI_PM_PORT;
    public static final int ACPI_SLEEP_STATUS_PORT = ACPI_PM_PORT + 1;
    public static final int ACPI_RESET_PORT = ACPI_PM_PORT + 2;
    /** Value the guest writes to the reset register (FADT RESET_VALUE). */
    public static final int ACPI_RESET_VALUE = 0x01;
    /** SLP_TYP value our DSDT's \_S5 package announces for soft-off. */
    public static final int ACPI_S5_SLP_TYP = 5;
    /** ACPI SCI interrupt (unused by hardware-reduced ACPI, but FADT carries one). */
    public static final int ACPI_SCI_IRQ = 9;
    public static final int IOAPIC_PINS = 24;

    // --- PCI INTx routing (shared by the DSDT's _PRT and the device wiring) ---
    /** First I/O APIC GSI used for PCI INTx; GSIs 16..23 are the pins legacy ISA IRQs never use. */
    public static final int PCI_INTX_GSI_BASE = 16;
    public static final int PCI_INTX_GSI_COUNT = 8;

    /**
     * The GSI that PCI device {@code slot} (bus 0, 0..31) pin {@code pin} (0 = INTA .. 3 = INTD)
     * interrupts on: {@code 16 + ((slot + pin) % 8)}, the usual "swizzle" so devices in
     * neighbouring slots spread over the eight PCI GSIs. Level-triggered, active-low (PCI 3.0 §2.2.6).
     */
    public static int pciIntxGsi(int slot, int pin) {
        if (slot < 0 || slot > 31 || pin < 0 || pin > 3) {
            throw new IllegalArgumentException("bad PCI slot/pin " + slot + "/" + pin);
        }
        return PCI_INTX_GSI_BASE + (slot + pin) % PCI_INTX_GSI_COUNT;
    }
}
