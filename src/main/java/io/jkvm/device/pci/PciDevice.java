package io.jkvm.device.pci;

import java.util.List;

/**
 * A PCI function on the root bus, as seen through configuration space.
 *
 * <p>Most devices only supply {@link #config()}; the defaults delegate to it. Register indices
 * come from configuration mechanism #1 (dword 0..63); all arguments are guest-controlled and
 * out-of-range ones are ignored rather than rejected.
 */
public interface PciDevice {
    PciConfigSpace config();

    /** Reads configuration dword {@code register} (0..63). */
    default int readConfig(int register) {
        return config().readDword(register);
    }

    /**
     * Writes the low {@code size} bytes of {@code value} to dword {@code register} starting at
     * byte lane {@code byteOffset}; accesses that do not fit inside one dword are ignored.
     */
    default void writeConfig(int register, int byteOffset, int size, int value) {
        if (register < 0 || register >= PciConfigSpace.DWORDS || byteOffset < 0 || byteOffset > 3
                || size < 1 || byteOffset + size > 4) {
            return;
        }
        config().write(register * 4 + byteOffset, size, value);
    }

    /** The BARs the device implements. */
    default List<PciBar> bars() {
        return config().bars();
    }

    /** Where to report BAR address changes (see {@link BarRemapListener}). */
    default void setBarRemapListener(BarRemapListener listener) {
        config().setBarRemapListener(listener);
    }

    /** Function-level reset to the power-on state. */
    default void reset() {
        config().reset();
    }
}
