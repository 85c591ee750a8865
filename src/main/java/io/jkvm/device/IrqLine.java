package io.jkvm.device;

/** An interrupt line into the guest's interrupt controller (ISA IRQ / IOAPIC GSI). */
public interface IrqLine {
    /** Drives the line high or low; an edge-triggered pin fires on the low-to-high transition. */
    void setLevel(boolean high);

    /** Raises then lowers the line: one edge. */
    default void pulse() {
        setLevel(true);
        setLevel(false);
    }
}
