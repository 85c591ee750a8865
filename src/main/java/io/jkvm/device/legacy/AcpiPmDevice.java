package io.jkvm.device.legacy;

import io.jkvm.arch.x86.Layout;
import io.jkvm.device.BusDevice;
import io.jkvm.snapshot.Persist;
import io.jkvm.snapshot.RecordCodec;
import java.util.Objects;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * ACPI hardware-reduced power management registers, three bytes at {@link Layout#ACPI_PM_PORT}
 * (register with length {@link #LENGTH}); the FADT announces them.
 *
 * <ul>
 *   <li>+0 Sleep Control register (ACPI 6.x §4.8.3.7): SLP_TYP in bits 4:2, SLP_EN in bit 5.
 *       Writing SLP_EN with SLP_TYP = {@link Layout#ACPI_S5_SLP_TYP} (our DSDT's \_S5 value)
 *       requests soft-off; other sleep states are not supported and are ignored.
 *   <li>+1 Sleep Status register (§4.8.3.7): WAK_STS is bit 7. We never sleep, so it reads 0;
 *       writes (write-1-to-clear) have nothing to clear.
 *   <li>+2 Reset register (§4.8.3.6, FADT RESET_REG): writing {@link Layout#ACPI_RESET_VALUE}
 *       requests a reset.
 * </ul>
 *
 * <p>A wider access is treated as consecutive byte accesses, each register seeing its own byte.
 * Callbacks run on the vCPU thread that made the access; they should only signal the VMM (a
 * callback that throws is logged, never propagated into the vCPU loop).
 */
public final class AcpiPmDevice implements BusDevice, Persist<AcpiPmDevice.State> {
    /**
     * The registers hold no state between accesses (SLP_EN and the reset value act at once,
     * ACPI 6.4 §4.8.3.7-4.8.3.8; reads return 0): the empty record pins the device's presence
     * in a snapshot.
     */
    public record State() {
        public static final RecordCodec<State> CODEC = RecordCodec.of("acpi_pm", State.class, (s, w) -> { },
                r -> new State());
    }

    @Override
    public State save() {
        return new State();
    }

    /** The device for a restored machine (nothing to load). */
    public static AcpiPmDevice restore(Runnable powerOff, Runnable reset, State s) {
        return new AcpiPmDevice(powerOff, reset);
    }

    private static final Logger LOG = LoggerFactory.getLogger(AcpiPmDevice.class);

    public static final int LENGTH = 3;
    public static final int SLEEP_CONTROL = 0;
    public static final int SLEEP_STATUS = 1;
    public static final int RESET = 2;

    public static final int SLP_EN = 1 << 5;
    private static final int SLP_TYP_SHIFT = 2;
    private static final int SLP_TYP_MASK = 0x7;

    private final Runnable powerOff;
    private final Runnable reset;

    /**
     * @param powerOff invoked when the guest enters S5 (soft-off)
     * @param reset invoked when the guest writes the reset value to the reset register
     */
    public AcpiPmDevice(Runnable powerOff, Runnable reset) {
        this.powerOff = Objects.requireNonNull(powerOff, "powerOff");
        this.reset = Objects.requireNonNull(reset, "reset");
    }

    @Override
    public long read(long offset, int size) {
        // Sleep control (SLP_EN is write-only), sleep status (no wake event) and the reset
        // register (write-only) all read as zero.
        return 0;
    }

    @Override
    public void write(long offset, int size, long value) {
        int n = Math.max(0, Math.min(size, 8));
        for (int i = 0; i < n; i++) {
            long off = offset + i;
            if (off < 0 || off >= LENGTH) {
                continue;
            }
            writeByte((int) off, (int) ((value >>> (8 * i)) & 0xff));
        }
    }

    private void writeByte(int offset, int v) {
        switch (offset) {
            case SLEEP_CONTROL -> {
                int slpTyp = (v >> SLP_TYP_SHIFT) & SLP_TYP_MASK;
                if ((v & SLP_EN) != 0) {
                    if (slpTyp == Layout.ACPI_S5_SLP_TYP) {
                        LOG.info("acpi: guest requested soft-off (S5)");
                        invoke(powerOff, "power-off");
                    } else {
                        LOG.debug("acpi: ignoring unsupported sleep type {}", slpTyp);
                    }
                }
            }
            case RESET -> {
                if (v == Layout.ACPI_RESET_VALUE) {
                    LOG.info("acpi: guest requested reset");
                    invoke(reset, "reset");
                }
            }
            default -> { /* sleep status: nothing to clear */ }
        }
    }

    private static void invoke(Runnable r, String what) {
        try {
            r.run();
        } catch (RuntimeException e) {
            LOG.error("acpi: {} callback failed", what, e);
        }
    }
}
