package io.jkvm.arch.x86.acpi;

import io.jkvm.arch.x86.Layout;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * Fixed ACPI Description Table, revision 6 (ACPI 6.4 §5.2.9, Table 5.9), for a hardware-reduced
 * ACPI platform (§4.1): no PM1/GPE blocks, no FACS, no SMI command port. Power-off goes through
 * the sleep control register (§4.8.3.7) and reboot through the reset register (§4.8.3.6), both
 * tiny I/O ports at {@link Layout#ACPI_PM_PORT}.
 */
public final class Fadt {
    private Fadt() {}

    public static final int LENGTH = 276;
    public static final int REVISION = 6;
    public static final int MINOR_REVISION = 4;

    // Field offsets (Table 5.9).
    public static final int OFF_DSDT = 40;
    public static final int OFF_SCI_INT = 46;
    public static final int OFF_IAPC_BOOT_ARCH = 109;
    public static final int OFF_FLAGS = 112;
    public static final int OFF_RESET_REG = 116;
    public static final int OFF_RESET_VALUE = 128;
    public static final int OFF_MINOR_REVISION = 131;
    public static final int OFF_X_DSDT = 140;
    public static final int OFF_SLEEP_CONTROL_REG = 244;
    public static final int OFF_SLEEP_STATUS_REG = 256;
    public static final int OFF_HYPERVISOR_VENDOR = 268;

    /** IAPC_BOOT_ARCH bit 1 (Table 5.11): the platform has an 8042 keyboard controller. */
    public static final int BOOT_ARCH_8042 = 1 << 1;
    /** Flags bit 10 (Table 5.10): RESET_REG is supported. */
    public static final int FLAG_RESET_REG_SUP = 1 << 10;
    /** Flags bit 20 (Table 5.10): hardware-reduced ACPI. */
    public static final int FLAG_HW_REDUCED_ACPI = 1 << 20;

    public static byte[] build(long dsdtAddress) {
        ByteBuffer b = AcpiTable.start("FACP", LENGTH, REVISION);
        b.putInt(OFF_DSDT, (int) dsdtAddress);
        b.putShort(OFF_SCI_INT, (short) Layout.ACPI_SCI_IRQ);
        // No legacy-device / VGA / MSI / RTC "not present" bits: only announce the i8042.
        b.putShort(OFF_IAPC_BOOT_ARCH, (short) BOOT_ARCH_8042);
        b.putInt(OFF_FLAGS, FLAG_HW_REDUCED_ACPI | FLAG_RESET_REG_SUP);
        Gas.io8(Layout.ACPI_RESET_PORT).put(b, OFF_RESET_REG);
        b.put(OFF_RESET_VALUE, (byte) Layout.ACPI_RESET_VALUE);
        b.put(OFF_MINOR_REVISION, (byte) MINOR_REVISION);
        b.putLong(OFF_X_DSDT, dsdtAddress);
        Gas.io8(Layout.ACPI_SLEEP_CONTROL_PORT).put(b, OFF_SLEEP_CONTROL_REG);
        Gas.io8(Layout.ACPI_SLEEP_STATUS_PORT).put(b, OFF_SLEEP_STATUS_REG);
        b.put(OFF_HYPERVISOR_VENDOR, "JKVM".getBytes(StandardCharsets.US_ASCII));
        return AcpiTable.finish(b);
    }
}
