package io.jkvm.arch.x86;

import io.jkvm.device.virtio.mmio.VirtioMmioLayout;

import java.util.ArrayList;
import java.util.List;

/**
 * Where a VM's virtio-mmio devices sit: device {@code i} (in attach order) gets the 4 KiB window
 * {@link #base(int)} and the I/O APIC input {@link #gsi(int)}, and the guest learns both from
 * one {@code virtio_mmio.device=4K@0x<base>:<gsi>} kernel parameter per device, in that order
 * (Linux's virtio_mmio registers command-line devices as it parses them, so the first disk
 * becomes vda), and from one LNRO0005 device per window in the DSDT, in the same order, for
 * kernels that ignore the parameter (io.jkvm.arch.x86.acpi.Dsdt, {@link VirtioMmioWindow}).
 *
 * <p><b>Interrupts</b>: Firecracker numbers its devices' GSIs from 5 upwards because 0..4 are
 * the PC's timer, keyboard, cascade and serial ports. The devices here first take the ISA inputs
 * no jkvm device and no PC convention Linux relies on claims: 5, 6, 7, 10 and 11, then 13, 14 and
 * 15 (free without an FPU-error line or IDE controllers). Not 3/4 (COM2/COM1), 1/12 (i8042), 8
 * (RTC) nor 9 (the SCI the FADT names). Then 16..23, the inputs the PCI INTx swizzle gives PCI
 * slots ({@link Layout#pciIntxGsi}): a virtio-mmio VM has no PCI function that could raise one
 * (its virtio devices are all here, and the host bridge has no interrupt pin). That is sixteen
 * devices, enough for Kata's Firecracker sandbox (a root drive, eight placeholder drives it later
 * patches, a NIC and vsock); a VM with more is refused ({@link #requireFits}). Linux binds the
 * DSDT's devices before the command line's (the ACPI scan runs at an earlier initcall level), so a
 * kernel with ACPI takes each GSI's mode from the _CRS, whatever its number.
 * The device holds its line high while an event is unacknowledged (virtio 1.2 §4.2.2), so the
 * DSDT's _CRS declares each GSI level-triggered, active-high, and the MADT overrides each in-use
 * one to itself with those flags, since an ISA input without an override defaults to
 * edge-triggered (ACPI 6.4 §5.2.12.5). Either mode delivers every event: the line falls at
 * InterruptACK and rises again for the next one.
 */
public final class VirtioMmioSlots {
    private VirtioMmioSlots() {}

    /** Size of one device's window: the 4K Linux's virtio_mmio.device= parameter names. */
    public static final long WINDOW = VirtioMmioLayout.WINDOW;

    private static final int[] GSIS = {5, 6, 7, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23};

    /** How many virtio-mmio devices one VM can have. */
    public static final int MAX_DEVICES = GSIS.length;

    /** Guest-physical base of device {@code i}'s register window. */
    public static long base(int i) {
        check(i);
        return Layout.VIRTIO_MMIO_START + i * WINDOW;
    }

    /** The GSI device {@code i} interrupts on. */
    public static int gsi(int i) {
        check(i);
        return GSIS[i];
    }

    /** The GSIs devices 0..MAX_DEVICES-1 use, in order. */
    public static List<Integer> gsis() {
        List<Integer> out = new ArrayList<>(GSIS.length);
        for (int g : GSIS) {
            out.add(g);
        }
        return List.copyOf(out);
    }

    /** The kernel parameter declaring device {@code i} (drivers/virtio/virtio_mmio.c, "device=<size>@<base>:<irq>"). */
    public static String kernelParameter(int i) {
        return VirtioMmioLayout.kernelParameter(base(i), gsi(i));
    }

    /** The parameters for {@code count} devices, space-separated, in attach order ("" for none). */
    public static String kernelParameters(int count) {
        requireFits(count);
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < count; i++) {
            if (i > 0) {
                b.append(' ');
            }
            b.append(kernelParameter(i));
        }
        return b.toString();
    }

    /** Refuses {@code count} devices if they do not fit (one free GSI each). */
    public static void requireFits(int count) {
        if (count < 0 || count > MAX_DEVICES) {
            throw new IllegalArgumentException(count + " virtio devices do not fit on virtio-mmio: a VM has at most "
                    + MAX_DEVICES + " (one free ISA interrupt each); use --virtio-transport pci");
        }
    }

    private static void check(int i) {
        if (i < 0 || i >= MAX_DEVICES) {
            throw new IllegalArgumentException("virtio-mmio slot " + i + " is not in 0.." + (MAX_DEVICES - 1));
        }
    }
}
